"""Which plan each tenant is on, from Postgres ``tenants``, for the tool gate.

The whole table (tenant id → plan) is read at most every ``refresh_s`` seconds, and
again on a tenant it does not know at most every ``miss_refresh_s`` (a tenant created
since the last read), each read bounded by ``timeout_s``. A failed read keeps the
plans already known and is logged; a tenant never seen reads as ``None`` (the
default plan of :mod:`somagent.tools.quotas`). Nothing here blocks the event loop:
the read is an ``asyncpg`` await, one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

import asyncpg

log = logging.getLogger(__name__)

REFRESH_S: Final = 30.0
MISS_REFRESH_S: Final = 5.0


class TenantPlans:
    """tenant id → plan (see the module doc); one per worker process."""

    def __init__(
        self,
        dsn: str,
        *,
        refresh_s: float = REFRESH_S,
        miss_refresh_s: float = MISS_REFRESH_S,
        timeout_s: float = 2.0,
    ) -> None:
        self.dsn = dsn
        self.refresh_s, self.miss_refresh_s, self.timeout_s = refresh_s, miss_refresh_s, timeout_s
        self._plans: dict[str, str] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def plan(self, tenant: str) -> str | None:
        """``tenant``'s plan, or None when Postgres does not know the tenant."""
        age = time.monotonic() - self._read_at
        if age >= self.refresh_s or (tenant not in self._plans and age >= self.miss_refresh_s):
            await self._refresh(tenant)
        return self._plans.get(tenant)

    async def _refresh(self, tenant: str) -> None:
        async with self._lock:
            age = time.monotonic() - self._read_at
            if age < self.refresh_s and (tenant in self._plans or age < self.miss_refresh_s):
                return  # another task read the table meanwhile
            try:
                self._plans = await asyncio.wait_for(self._read(), self.timeout_s)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("tool gate: cannot read tenant plans from Postgres: %r", exc)
            self._read_at = time.monotonic()

    async def _read(self) -> dict[str, str]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch("SELECT tenant_id, plan FROM tenants")
            return {str(r["tenant_id"]): str(r["plan"]) for r in rows}
        finally:
            await conn.close()
