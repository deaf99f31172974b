"""Tenant plans for pricing usage that carries no prices of its own, from Postgres."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import asyncpg

from somagent.config import Settings

log = logging.getLogger(__name__)


def tenant_plans(settings: Settings, refresh_s: float = 30.0) -> Callable[[str], str | None]:
    """tenant id → plan from Postgres ``tenants``, refreshed every ``refresh_s`` seconds."""
    cache: dict[str, str] = {}
    loaded = [0.0]

    async def fetch() -> dict[str, str]:
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            return {
                str(r["tenant_id"]): r["plan"]
                for r in await conn.fetch("SELECT tenant_id, plan FROM tenants")
            }
        finally:
            await conn.close()

    def plan_for(tenant: str) -> str | None:
        if time.monotonic() - loaded[0] > refresh_s:
            try:
                # Its own thread and loop: callers may run inside an event loop (Faust).
                with ThreadPoolExecutor(1) as pool:
                    cache.update(pool.submit(asyncio.run, fetch()).result(timeout=10))
            except Exception as exc:
                log.warning("billing: cannot refresh tenant plans from Postgres: %s", exc)
            loaded[0] = time.monotonic()
        return cache.get(tenant)

    return plan_for
