"""``somagent metrics``: the aggregated view of every role process's metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from somagent.exceptions import SomagentError


def metrics(
    as_json: Annotated[bool, typer.Option("--json", help="per-process summary as JSON")] = False,
    targets_file: Annotated[
        Path | None,
        typer.Option("--targets", help="write Prometheus file_sd targets here and exit"),
    ] = None,
) -> None:
    """Scrape every role's /metrics (ports from run/platform.json); print one exposition
    whose samples carry process= and role= labels."""
    from somagent.config import load_settings
    from somagent.telemetry import aggregate

    state_file = load_settings().home_dir / "run" / "platform.json"
    try:
        if targets_file is not None:
            found = aggregate.targets(state_file)
            targets_file.write_text(json.dumps(aggregate.file_sd_targets(found), indent=1))
            typer.echo(f"{len(found)} targets written to {targets_file}")
            return
        scrapes = aggregate.scrape_platform(state_file)
    except SomagentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(aggregate.summary(scrapes), indent=1))
    else:
        typer.echo(aggregate.merge(scrapes), nl=False)
    if not all(s.ok for s in scrapes):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)
