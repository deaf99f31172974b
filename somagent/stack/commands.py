"""``somagent up|down|status``: the local stack (dev and tests; never imported by services)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from somagent.config import load_settings
from somagent.console import fail, out
from somagent.exceptions import SomagentError


def up(
    servers_only: Annotated[
        bool,
        typer.Option("--servers-only", help="servers and engine owners only"),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="turn-engine processes in one consumer group (default: cores)"),
    ] = None,
    edges: Annotated[
        int, typer.Option(min=1, help="edge processes sharing the API port (SO_REUSEPORT)")
    ] = 1,
    jobs: Annotated[
        int, typer.Option(min=0, help="jobs workers (Temporal) sharing one task queue")
    ] = 1,
    prepare_only: Annotated[
        bool,
        typer.Option("--prepare-only", help="check servers, apply topics/migrations/DDL; no roles"),
    ] = False,
) -> None:
    """Start the local stack (Kafka, PostgreSQL, Redis, Temporal, ClickHouse, Qdrant), then roles.

    The platform runs as supervised processes, one per role (see `somagent status`).
    Idempotent: running servers and data are reused; a different --workers/--edges
    restarts the platform processes with the new layout.
    """
    from somagent.stack.platform import Layout
    from somagent.stack.stack import Stack

    try:
        layout = Layout(workers=workers, edges=edges, platform=not servers_only, jobs=jobs)
        running = Stack(load_settings()).up(layout, roles=not prepare_only)
    except SomagentError as exc:
        raise fail(exc) from exc
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in running.timings_s.items())
    out.print(f"stack is up under {running.settings.home_dir} ({timings})", highlight=False)


def down() -> None:
    """Stop every process the stack started (data is kept)."""
    from somagent.stack.stack import Stack

    try:
        stopped = Stack(load_settings()).down()
    except SomagentError as exc:
        raise fail(exc) from exc
    out.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


def status(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Each component and platform role: version, address, pid, restarts, lag, health."""
    from somagent.stack.stack import Stack

    try:
        rows = Stack(load_settings()).status()
    except SomagentError as exc:
        raise fail(exc) from exc
    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        table = Table("component", "mode", "version", "address", "pid", "restarts", "lag", "health")
        for r in rows:
            health = "[green]healthy[/]" if r.healthy else f"[red]down[/] {r.detail[:60]}"
            lag = ", ".join(f"{t} {n}" for t, n in (r.lag or {}).items()) or "-"
            restarts = "-" if r.restarts is None else str(r.restarts)
            table.add_row(r.name, r.mode, r.version or "-", r.address, str(r.pid or "-"),
                          restarts, lag, health)
        out.print(table)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)

