"""The ``somagent`` command.

Each command is thin: it loads the validated settings, calls one function of the
package, and prints. Errors that SomaGent raises on purpose are printed as one
clear line on stderr with exit status 1; anything else is a bug and shows its
traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from somagent.config import Settings, load_settings
from somagent.console import err, fail, out
from somagent.exceptions import SomagentError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="SomaGent Stream platform.")


def settings() -> Settings:
    return load_settings()


@app.command()
def topics(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Create the catalog's topics if missing and show them with their live configuration."""
    from somagent.kafka.admin import describe_topics, ensure_topics

    try:
        cfg = settings()
        ensure_topics(cfg)
        rows = describe_topics(cfg)
    except SomagentError as exc:
        raise fail(exc) from exc
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("topic", "key", "partitions", "cleanup", "retention.ms", "drift")
    for r in rows:
        live = r["live"]
        table.add_row(
            r["name"],
            r["key"],
            str(r["partitions"]),
            live.get("cleanup.policy", "-"),
            live.get("retention.ms", "-"),
            ", ".join(r["drift"]) or "-",
        )
    out.print(table)


@app.command()
def capacity(
    arrival_rate: Annotated[float, typer.Option(help="requests per second (λ)")] = 20.0,
    service_rate: Annotated[
        float, typer.Option(help="turns per second one worker serves (μ)")
    ] = 2.0,
    wait_p95_s: Annotated[float, typer.Option(help="SLO on the P95 queueing wait, seconds")] = 0.5,
    max_utilisation: Annotated[float, typer.Option(help="utilisation cap ρ")] = 0.7,
    graph: Annotated[
        str | None, typer.Option(help="JSON file with a worker/region graph spec")
    ] = None,
) -> None:
    """Workers needed for a load and SLO (Erlang C), and the routing/conductance state."""
    from pathlib import Path

    from somagent.math.capacity import capacity_report

    spec = json.loads(Path(graph).read_text()) if graph else None
    try:
        report = capacity_report(arrival_rate, service_rate, wait_p95_s, max_utilisation, spec)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    print(json.dumps(report, indent=2))


# Packages contribute their own command groups through `somagent.<pkg>.commands.register`,
# so this module stays a thin router.
_COMMAND_MODULES = (
    "somagent.api.commands",
    "somagent.serve.commands",
    "somagent.serve.cli",
    "somagent.stack.commands",
    "somagent.analytics.commands",
    "somagent.projections.commands",
    "somagent.math.commands",
    "somagent.bench_commands",
    "somagent.jobs.commands",
    "somagent.telemetry.commands",
)


def _register_packages() -> None:
    import importlib
    import importlib.util

    for name in _COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(app)


_register_packages()


def main() -> None:
    try:
        app()
    except SomagentError as exc:  # raised outside a command body (e.g. settings)
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
