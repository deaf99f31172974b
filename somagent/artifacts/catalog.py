"""``GET /v1/agents``: the catalog with versions, installs and the measured ranking.

The ranking reads ``agent_version_turns`` (ClickHouse, through the analytics
service as the platform's service user) for turns completed in the last
``window_s`` seconds and orders versions with :mod:`somagent.artifacts.ranking`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from somagent.analytics.connect import analytics_client
from somagent.api.call import Call
from somagent.api.problems import Problem
from somagent.artifacts import registry
from somagent.artifacts.documents import DEFAULT_SLA_MS
from somagent.artifacts.ranking import TurnSample, VersionStats, summarise
from somagent.config import Settings
from somagent.exceptions import SomagentError

RANK_SQL = (
    "SELECT agent, agent_version, duration_ms, failed, cost_picocents "
    "FROM agent_version_turns WHERE completed_us >= {since:Int64}"
)


def _samples(settings: Settings, since_us: int) -> list[TurnSample]:
    client = analytics_client(settings, timeout_s=30.0)
    try:
        rows = client.query(RANK_SQL, {"since": since_us})
    finally:
        client.close()
    return [
        TurnSample(str(r["agent"]), str(r["agent_version"]), int(r["duration_ms"]),
                   bool(int(r["failed"])), int(r["cost_picocents"]))
        for r in rows
    ]


async def ranking(call: Call, window_s: int) -> list[VersionStats]:
    """Every agent version with measured turns in the window, best first."""
    since_us = (time.time_ns() // 1000) - window_s * 1_000_000
    try:
        samples = await asyncio.to_thread(_samples, call.ctx.settings, since_us)
    except (SomagentError, httpx.HTTPError, OSError) as exc:
        raise Problem("dependency-unavailable", f"ClickHouse (analytics) failed: {exc}",
                      headers={"Retry-After": "1"}, retry_after_s=1) from exc
    rows = await call.ctx.pg.fetch(
        "SELECT artifact_id, version, sla_ms FROM artifact_versions WHERE kind = 'agent'"
    )
    sla = {(r["artifact_id"], r["version"]): int(r["sla_ms"] or DEFAULT_SLA_MS) for r in rows}
    return summarise(samples, sla, DEFAULT_SLA_MS)


async def catalog(call: Call, tenant: str, *, sort: str, window_s: int) -> dict[str, Any]:
    """Agents with their versions (and each version's figures), the caller's installs."""
    pg = call.ctx.pg
    heads = [dict(r) for r in await pg.fetch(
        "SELECT * FROM artifacts WHERE kind = 'agent' ORDER BY artifact_id")]
    versions = [dict(r) for r in await pg.fetch(
        "SELECT * FROM artifact_versions WHERE kind = 'agent' ORDER BY created_at")]
    installs = {r["agent_id"]: dict(r) for r in await pg.fetch(
        "SELECT * FROM agent_installs WHERE tenant_id = $1", uuid.UUID(tenant))}
    ranked = await ranking(call, window_s)
    figures = {(s.agent_id, s.version): (i + 1, s) for i, s in enumerate(ranked)}
    agents = []
    for head in heads:
        entry = registry.artifact_json(head)
        entry["versions"] = []
        best: tuple[int, VersionStats] | None = None
        for v in (v for v in versions if v["artifact_id"] == head["artifact_id"]):
            item = registry.version_json(v)
            found = figures.get((head["artifact_id"], v["version"]))
            item["performance"] = found[1].as_dict() if found else None
            item["rank"] = found[0] if found else None
            if found and (best is None or found[0] < best[0]):
                best = found
            entry["versions"].append(item)
        entry["rank"] = best[0] if best else None
        entry["score"] = round(best[1].score, 6) if best else 0.0
        inst = installs.get(head["artifact_id"])
        entry["installed"] = None if inst is None else {
            "version": inst["version"], "auto_update": inst["auto_update"],
            "status": inst["status"]}
        agents.append(entry)
    if sort == "rank":
        agents.sort(key=lambda a: (a["rank"] is None, a["rank"] or 0, a["id"]))
    return {"agents": agents, "window_s": window_s, "sort": sort,
            "ranking": [dict(s.as_dict(), rank=i + 1) for i, s in enumerate(ranked)]}
