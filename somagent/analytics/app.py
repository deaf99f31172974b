"""The analytics service: the one owner of the chDB directory, serving ClickHouse's HTTP interface.

:func:`open_engine` opens the directory (failing fast, with the reason, when
another process owns it), applies the DDL and derives the tenant-visible
tables; only then does :func:`create_app`'s server bind its port, so ``/ping``
answers ``Ok.`` only once the service is ready. Routes: ``/`` (queries, GET and
POST), ``/ping``, ``/healthz`` (JSON: status, chDB and engine versions, data
directory, database, tenant-visible tables).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import chdb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from somagent.analytics.engine import Engine
from somagent.analytics.handler import QueryService
from somagent.analytics.principals import Authenticator
from somagent.analytics.responses import Server
from somagent.analytics.sessions import SessionSpec
from somagent.config import Settings
from somagent.credentials import operator_token, service_token
from somagent.projections.clickhouse import OBJECTS, apply_ddl


class _Ddl:
    """The service's own session as the target of :func:`apply_ddl`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.database = engine.database

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self.engine.session(SessionSpec(self.database)) as conn:
            self.engine.run(
                conn, sql, "TabSeparated", {k: str(v) for k, v in (params or {}).items()}
            )


def open_engine(settings: Settings) -> Engine:
    """The engine over ``settings.clickhouse_path``, DDL applied, visible tables known.

    Raises:
        EngineUnavailable: the directory is owned by another process or unusable.
        ClickHouseError: a DDL statement failed.
    """
    engine = Engine(settings.clickhouse_path, settings.clickhouse_database)
    try:
        apply_ddl(_Ddl(engine))
        engine.discover_tenant_tables(OBJECTS)
    except BaseException:
        engine.close()
        raise
    return engine


def create_app(settings: Settings, engine: Engine) -> Starlette:
    """The Starlette app serving ``engine``; it closes the engine when it stops."""
    server = Server(socket.gethostname(), engine.version, engine.timezone)
    holder: dict[str, QueryService] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        shm = Path("/dev/shm")
        spool = Path(
            tempfile.mkdtemp(prefix="somagent-analytics-", dir=shm if shm.is_dir() else None)
        )
        pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=0, max_size=4)
        home = settings.home_dir
        auth = Authenticator(service_token(home), operator_token(home), pool)
        holder["service"] = QueryService(engine, auth, server, spool)
        try:
            yield
        finally:
            await pool.close()
            shutil.rmtree(spool, ignore_errors=True)
            engine.close()

    async def query(request: Request) -> Response:
        return await holder["service"].handle(request)

    async def ping(request: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "chdb_version": chdb.__version__,
                "engine_version": engine.version,
                "data_dir": str(engine.path),
                "database": engine.database,
                "tenant_tables": sorted(engine.tenant_tables),
            }
        )

    routes = [
        Route("/", query, methods=["GET", "POST"]),
        Route("/ping", ping, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
