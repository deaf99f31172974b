"""One JSON document with every console panel, for one viewer and one time window.

Panels come from the platform's own read models: ClickHouse (:mod:`read_models`,
through the analytics service as the operator, or as the service acting for the
viewer's tenant), Postgres (:mod:`ledger`), the marketplace ranking (the same
computation as ``GET /v1/agents?sort=rank``: public, no tenant's rows) and, for
the operator only, the roles (:mod:`services`). Panels are read concurrently;
one failing panel (a backing service down) is reported under ``errors`` with
the reason and the others are still returned, so the console degrades panel by
panel instead of going blank.

Guarantee: for a tenant viewer every tenant-bearing figure is read with that
tenant's scope (engine-side filter in ClickHouse, ``tenant_id = $1`` in
Postgres); ``services`` is omitted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from somagent.analytics.client import HttpClickHouse
from somagent.analytics.connect import analytics_client
from somagent.config import Settings
from somagent.exceptions import SomagentError
from somagent.webconsole import ledger, read_models
from somagent.webconsole.services import services
from somagent.webconsole.viewer import Viewer

log = logging.getLogger(__name__)

WINDOWS_S = (900, 3600, 6 * 3600, 24 * 3600)
PANEL_ERRORS = (SomagentError, httpx.HTTPError, OSError, asyncpg.PostgresError,
                asyncpg.InterfaceError, TimeoutError, KeyError, ValueError)
Ranking = Callable[[], Awaitable[list[dict[str, Any]]]]


def clickhouse_for(settings: Settings, viewer: Viewer) -> HttpClickHouse:
    """The operator's client (every tenant), or the service acting for the viewer's tenant."""
    if viewer.is_operator:
        return analytics_client(settings, role="operator", timeout_s=30.0)
    return analytics_client(settings, tenant=viewer.tenant, timeout_s=30.0)


async def _clickhouse_panels(settings: Settings, viewer: Viewer, since_us: int,
                             now_us: int) -> dict[str, Any]:
    ch = await asyncio.to_thread(clickhouse_for, settings, viewer)
    try:
        jobs: dict[str, Callable[[], Any]] = {
            "latency": lambda: read_models.latency(ch, since_us),
            "throughput": lambda: read_models.throughput(ch, since_us),
            "topics": lambda: read_models.topics(ch, since_us, now_us),
            "denials": lambda: read_models.denials(ch, since_us),
            "slow_tools": lambda: read_models.slow_tools(ch, since_us),
            "slow_turns": lambda: read_models.slow_turns(ch, since_us),
        }
        results = await asyncio.gather(*(asyncio.to_thread(f) for f in jobs.values()),
                                       return_exceptions=True)
    finally:
        await asyncio.to_thread(ch.close)
    return dict(zip(jobs, results, strict=True))


async def snapshot(
    settings: Settings,
    pool: asyncpg.Pool,
    viewer: Viewer,
    window_s: int,
    ranking: Ranking,
) -> dict[str, Any]:
    """Every panel for ``viewer`` over the last ``window_s`` seconds (see the module doc)."""
    started = time.perf_counter()
    now_us = time.time_ns() // 1000
    since_us = now_us - window_s * 1_000_000
    scope = None if viewer.is_operator else viewer.tenant
    waits: dict[str, Awaitable[Any]] = {
        "clickhouse": _clickhouse_panels(settings, viewer, since_us, now_us),
        "spend": ledger.spend(pool, scope),
        "budget_burn": ledger.budget_burn(pool, scope),
        "jobs": ledger.jobs(pool, scope),
        "tenants": ledger.tenant_names(pool, scope),
        "ranking": ranking(),
    }
    if viewer.is_operator:
        waits["services"] = services(settings)
    results = await asyncio.gather(*waits.values(), return_exceptions=True)
    found = dict(zip(waits, results, strict=True))
    panels = found.pop("clickhouse")
    if isinstance(panels, BaseException):
        panels = {k: panels for k in ("latency", "throughput", "topics", "denials",
                                      "slow_tools", "slow_turns")}
    found.update(panels)
    doc: dict[str, Any] = {"viewer": viewer.as_dict(), "window_s": window_s,
                           "since_us": since_us, "as_of_us": now_us, "errors": {}}
    for name, value in found.items():
        if isinstance(value, BaseException):
            if not isinstance(value, PANEL_ERRORS):
                raise value
            log.warning("console panel %s failed: %s", name, value)
            doc["errors"][name] = f"{type(value).__name__}: {value}"
            doc[name] = None
        else:
            doc[name] = value
    doc["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return doc
