"""``somagent serve api``, ``somagent tenant create|list`` and ``somagent keys rotate``.

``serve`` is a group shared with other packages (``serve worker|projector|all``
from ``somagent.serve.commands``): :func:`serve_group` finds the group if
another package registered it first, or creates it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Annotated

import typer

from somagent.exceptions import SomagentError


def serve_group(app: typer.Typer) -> typer.Typer:
    """The ``serve`` sub-app of ``app``, created on first use."""
    for info in app.registered_groups:
        if info.name == "serve" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(no_args_is_help=True, help="Run one role of the platform.")
    app.add_typer(group, name="serve")
    return group


def _fail(exc: SomagentError | ValueError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _listen(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A listening socket; with ``reuse_port`` several edge processes bind the same port
    and the kernel spreads new connections across them (``SO_REUSEPORT``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_api(
    host: Annotated[str | None, typer.Option(help="bind address (SOMAGENT_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (SOMAGENT_API_PORT)")] = None,
    reuse_port: Annotated[
        bool, typer.Option("--reuse-port", help="share the port with other edge processes")
    ] = False,
) -> None:
    """Run the edge (Starlette + uvicorn) against the configured servers."""
    import uvicorn

    from somagent import logs
    from somagent.api.app import create_app
    from somagent.api.http_protocol import HeaderTimeoutProtocol
    from somagent.config import load_settings
    from somagent.serve.health import HealthServer, StallCheck
    from somagent.telemetry import tracing

    logs.configure()
    settings = load_settings()
    app = create_app(settings)
    tracing.configure_role("edge")
    health = HealthServer.from_env("edge")
    ctx = app.state.edge
    health.add_check("edge", ctx.health)
    health.add_check("tailer", StallCheck(
        lambda: ctx.tailer.waiting() if ctx.started else 0,
        lambda: ctx.tailer.records_seen if ctx.started else 0,
        stall_s=20.0,
    ))
    health.add_lag(app.state.edge.tailer_lag)
    health.add_registry(ctx.metrics.registry)  # somagent_edge_*, admission rho and P(wait)
    health.start()
    sock = _listen(host or settings.api_host, port or settings.api_port, reuse_port)
    config = uvicorn.Config(
        app, log_level="warning", timeout_graceful_shutdown=5, http=HeaderTimeoutProtocol
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        health.close()


tenant_app = typer.Typer(no_args_is_help=True, help="Tenants and their API keys.")


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option(help="tenant name")],
    plan: Annotated[str, typer.Option(help="free | pro | enterprise")] = "free",
    residency: Annotated[str, typer.Option(help="eu | us")] = "eu",
) -> None:
    """Create a tenant; print {"tenant", "api_key"} as JSON (the key is shown only once)."""
    import asyncpg

    from somagent.api.tenants import create_tenant
    from somagent.config import load_settings

    async def run() -> dict[str, str]:
        conn = await asyncpg.connect(load_settings().postgres_dsn, timeout=10)
        try:
            tenant, api_key = await create_tenant(conn, name, plan, residency)
        finally:
            await conn.close()
        return {"tenant": tenant.tenant_id, "api_key": api_key}

    try:
        print(json.dumps(asyncio.run(run())))
    except SomagentError as exc:
        raise _fail(exc) from exc


@tenant_app.command("limits")
def tenant_limits(
    tenant: Annotated[str, typer.Option(help="tenant id")],
    limits: Annotated[str | None, typer.Option(
        help='JSON overrides of the plan, e.g. {"tokens_per_min": 50000}')] = None,
    billing_profile: Annotated[str | None, typer.Option(
        help='JSON billing profile, e.g. {"lane": "batch"}')] = None,
) -> None:
    """Set a tenant's plan overrides and/or billing profile; print its effective limits."""
    import asyncpg

    from somagent.api.tenants import set_tenant_limits
    from somagent.config import load_settings

    async def run() -> dict[str, object]:
        conn = await asyncpg.connect(load_settings().postgres_dsn, timeout=10)
        try:
            updated = await set_tenant_limits(
                conn, tenant, json.loads(limits) if limits else None,
                json.loads(billing_profile) if billing_profile else None)
        finally:
            await conn.close()
        return updated.as_dict()

    try:
        print(json.dumps(asyncio.run(run()), indent=2))
    except (SomagentError, ValueError) as exc:
        raise _fail(exc) from exc


@tenant_app.command("list")
def tenant_list() -> None:
    """Every tenant as JSON (key ids only, never keys)."""
    import asyncpg

    from somagent.api.tenants import list_tenants
    from somagent.config import load_settings

    async def run() -> list[dict[str, object]]:
        conn = await asyncpg.connect(load_settings().postgres_dsn, timeout=10)
        try:
            return [t.as_dict() for t in await list_tenants(conn)]
        finally:
            await conn.close()

    print(json.dumps(asyncio.run(run()), indent=2))


keys_app = typer.Typer(no_args_is_help=True, help="Session token signing keys.")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new active signing key; old public keys stay valid for verification."""
    from somagent.api.keys import keys_dir, rotate
    from somagent.config import load_settings

    print(json.dumps({"active_kid": rotate(keys_dir(load_settings().home_dir))}))


def register(app: typer.Typer) -> None:
    serve_group(app).command("api")(serve_api)
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(keys_app, name="keys")
