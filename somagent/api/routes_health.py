"""``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json`` and ``/.well-known/jwks.json``.

``/readyz`` asks each backing service one real question, concurrently, each
within ``readiness_timeout_s``: Kafka (cluster metadata for
``conversation.events``), Postgres (``SELECT 1``), Redis (``PING``),
ClickHouse (its version, through the analytics service) and the Memory Gateway
(its ``/healthz``). 200 when all answer,
else 503; the JSON body details every check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.context import EdgeContext
from somagent.events.catalog import CONVERSATION
from somagent.kafka.admin import topic_metadata


async def healthz(request: Request) -> Response:
    """The process is alive and serving (no dependency is asked)."""
    return JSONResponse({"status": "ok"})


def _kafka(ctx: EdgeContext, timeout_s: float) -> str:
    brokers, partitions = topic_metadata(ctx.settings, CONVERSATION, timeout_s)
    return f"{brokers} broker(s), {partitions} partitions"


def _clickhouse(ctx: EdgeContext) -> str:
    from somagent.projections.clickhouse import connect

    ch = connect(ctx.settings)
    try:
        return f"{ch.backend} {ch.version()}"
    finally:
        ch.close()


async def _memory(ctx: EdgeContext, timeout_s: float) -> str:
    """The Memory Gateway's own health (it owns the vector store)."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        response = await client.get(f"{ctx.settings.memory_url}/healthz")
    response.raise_for_status()
    body = response.json()
    return f"{body.get('engine', '?')} engine, {body.get('points', '?')} points"


async def _probe(
    name: str, check: Callable[[], Awaitable[str]], timeout_s: float
) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), timeout_s)
        ok = True
    except Exception as exc:
        detail, ok = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, False
    return {"name": name, "ok": ok, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "detail": detail}


async def readyz(request: Request) -> Response:
    ctx: EdgeContext = request.app.state.edge
    t = ctx.edge.readiness_timeout_s

    async def postgres() -> str:
        async with ctx.pg.acquire(timeout=t) as conn:
            return f"SELECT 1 = {await conn.fetchval('SELECT 1')}"

    async def redis() -> str:
        return f"PING = {await ctx.redis.ping()}"

    checks: dict[str, Callable[[], Awaitable[str]]] = {
        "kafka": lambda: asyncio.to_thread(_kafka, ctx, t),
        "postgres": postgres,
        "redis": redis,
        "clickhouse": lambda: asyncio.to_thread(_clickhouse, ctx),
        "memory": lambda: _memory(ctx, t),
    }
    results = await asyncio.gather(*(_probe(n, c, t) for n, c in checks.items()))
    ready = all(r["ok"] for r in results)
    checks_out = {r.pop("name"): r for r in results}
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks_out},
        status_code=200 if ready else 503,
    )


async def metrics(request: Request) -> Response:
    ctx: EdgeContext = request.app.state.edge
    body = await asyncio.to_thread(ctx.metrics.exposition)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def jwks(request: Request) -> Response:
    ctx: EdgeContext = request.app.state.edge
    return JSONResponse(ctx.keyring.jwks())


async def openapi(request: Request) -> Response:
    from somagent.api.openapi import document

    return JSONResponse(document())
