"""``somagent serve analytics``: the analytics service (owner of the chDB directory)."""

from __future__ import annotations

from typing import Annotated

import typer

from somagent.api.commands import serve_group
from somagent.exceptions import SomagentError


def serve_analytics(
    port: Annotated[int | None, typer.Option(help="port (SOMAGENT_CLICKHOUSE_HTTP_PORT)")] = None,
    loglevel: Annotated[str, typer.Option(help="log level")] = "warning",
) -> None:
    """Own the chDB directory and serve ClickHouse's HTTP interface on 127.0.0.1."""
    import uvicorn

    from somagent import logs
    from somagent.analytics.app import create_app, open_engine
    from somagent.config import load_settings

    logs.configure()
    try:
        settings = load_settings()
        engine = open_engine(settings)
    except SomagentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    from somagent.serve.health import HealthServer, http_check

    bound = port or settings.clickhouse_http_port
    health = HealthServer.from_env("analytics")
    health.add_check("http", http_check(f"http://127.0.0.1:{bound}/ping"))
    health.start()
    try:
        uvicorn.run(
            create_app(settings, engine),
            host="127.0.0.1",
            port=bound,
            log_level=loglevel,
            access_log=False,
        )
    finally:
        health.close()


def register(app: typer.Typer) -> None:
    """Add ``serve analytics`` to the ``somagent`` command."""
    serve_group(app).command("analytics")(serve_analytics)
