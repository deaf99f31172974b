"""``somagent serve platform`` (the supervisor ``somagent up`` starts) and ``serve memory``."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_platform(
    workers: Annotated[
        int | None, typer.Option(help="turn-engine processes (default: number of cores)")
    ] = None,
    edges: Annotated[int, typer.Option(help="edge processes sharing the API port")] = 1,
    jobs: Annotated[int, typer.Option(help="jobs workers (Temporal) sharing a task queue")] = 1,
    servers_only: Annotated[
        bool, typer.Option("--servers-only", help="only the engine owners (analytics, memory)")
    ] = False,
) -> None:
    """Run every role as a supervised child process until SIGTERM/SIGINT."""
    from somagent.config import load_settings
    from somagent.serve.roles import plan
    from somagent.serve.supervisor import run_supervisor

    settings = load_settings()
    try:
        instances = plan(settings, workers=workers, edges=edges, platform=not servers_only,
                         jobs=jobs)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    layout = {"workers": workers, "edges": edges, "platform": not servers_only, "jobs": jobs}
    run_supervisor(settings, instances, layout)


def serve_memory(loglevel: Annotated[str, typer.Option(help="log level")] = "info") -> None:
    """The Memory Gateway: vector store owner, memory agent, recall/remember over HTTP."""
    from somagent.config import load_settings
    from somagent.serve.memory import run_gateway

    run_gateway(load_settings(), loglevel=loglevel)


def register(app: typer.Typer) -> None:
    from somagent.api.commands import serve_group

    group = serve_group(app)
    group.command("platform")(serve_platform)
    group.command("memory")(serve_memory)
