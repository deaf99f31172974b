"""The console's ClickHouse panels: latency quantiles, throughput, topics, denials, tools.

Every function reads the ``events`` table (one row per event id; ``FINAL`` so a
redelivered event counts once) or the ``turn_step_latency`` view for events at
or after ``since_us`` (epoch µs, by event time). The client decides whose rows
are visible: the operator's client reads every tenant; a tenant admin's is the
service acting for that tenant, which the analytics engine filters to that
tenant's rows (``docs/analytics.md``, *Tenancy*). Nothing here adds a tenant
condition of its own, so a tenant-scoped client can never see another tenant.

Latencies (milliseconds): a turn is ``TurnCompleted.duration_ms``; a tool call is
``ToolCallCompleted.duration_ms``; recall is the ``TurnRecalled`` step of
``turn_step_latency`` (time from the turn's previous event, ``TurnRequested``, to
``TurnRecalled``: recall as the turn experiences it). Quantiles are exact
(``quantilesExact``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

LATENCY_SQL = {
    "turn": "SELECT count() AS n, quantilesExact(0.5, 0.95, 0.99)("
    "toFloat64(visitParamExtractInt(payload, 'duration_ms'))) AS q "
    "FROM events FINAL WHERE type = 'TurnCompleted' AND ts_us >= {since:Int64}",
    "tool": "SELECT count() AS n, quantilesExact(0.5, 0.95, 0.99)("
    "toFloat64(visitParamExtractInt(payload, 'duration_ms'))) AS q "
    "FROM events FINAL WHERE type = 'ToolCallCompleted' AND ts_us >= {since:Int64}",
    "recall": "SELECT count() AS n, quantilesExact(0.5, 0.95, 0.99)(latency_us / 1000) AS q "
    "FROM turn_step_latency WHERE step_type = 'TurnRecalled' AND ts_us >= {since:Int64}",
}

THROUGHPUT_SQL = (
    "SELECT intDiv(ts_us, 60000000) * 60 AS minute_s, "
    "countIf(type = 'TurnCompleted') AS turns, countIf(type = 'TurnFailed') AS turn_errors, "
    "countIf(type = 'ToolCallFailed') AS tool_errors "
    "FROM events FINAL WHERE ts_us >= {since:Int64} "
    "AND type IN ('TurnCompleted', 'TurnFailed', 'ToolCallFailed') "
    "GROUP BY minute_s ORDER BY minute_s"
)

TOPICS_SQL = (
    "SELECT topic, count() AS events, countIf(ts_us >= {recent:Int64}) AS last_minute "
    "FROM events FINAL WHERE ts_us >= {since:Int64} GROUP BY topic ORDER BY topic"
)

# The OPA work may name the rule in the payload; until then the reason code is the rule.
DENIALS_SQL = (
    "SELECT if(visitParamHas(payload, 'rule'), visitParamExtractString(payload, 'rule'), "
    "visitParamExtractString(payload, 'reason_code')) AS rule, count() AS denials "
    "FROM events FINAL WHERE type = 'PolicyDenied' AND ts_us >= {since:Int64} "
    "GROUP BY rule ORDER BY denials DESC, rule LIMIT 50"
)

TOOLS_SQL = (
    "SELECT visitParamExtractString(payload, 'tool') AS tool, "
    "countIf(type = 'ToolCallCompleted') AS calls, countIf(type = 'ToolCallFailed') AS failures, "
    "quantileExactIf(0.95)(toFloat64(visitParamExtractInt(payload, 'duration_ms')), "
    "type = 'ToolCallCompleted') AS p95_ms, "
    "maxIf(visitParamExtractInt(payload, 'duration_ms'), type = 'ToolCallCompleted') AS max_ms "
    "FROM events FINAL WHERE type IN ('ToolCallCompleted', 'ToolCallFailed') "
    "AND ts_us >= {since:Int64} GROUP BY tool ORDER BY p95_ms DESC, tool LIMIT {limit:UInt32}"
)

SLOW_TURNS_SQL = (
    "SELECT turn, tenant, session, visitParamExtractInt(payload, 'duration_ms') AS duration_ms, "
    "visitParamExtractInt(payload, 'steps') AS steps, ts_us "
    "FROM events FINAL WHERE type = 'TurnCompleted' AND ts_us >= {since:Int64} "
    "ORDER BY duration_ms DESC, turn LIMIT {limit:UInt32}"
)


class Queryable(Protocol):
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...


def _number(value: Any) -> float:
    number = float(value)
    return 0.0 if number != number else round(number, 3)  # NaN (no rows) reads as 0


def latency(ch: Queryable, since_us: int) -> dict[str, dict[str, Any]]:
    """``{"turn"|"tool"|"recall": {"count", "p50_ms", "p95_ms", "p99_ms"}}``."""
    out = {}
    for kind, sql in LATENCY_SQL.items():
        row = ch.query(sql, {"since": since_us})[0]
        q = [_number(v) for v in row["q"]] if int(row["n"]) else [0.0, 0.0, 0.0]
        out[kind] = {"count": int(row["n"]), "p50_ms": q[0], "p95_ms": q[1], "p99_ms": q[2]}
    return out


def throughput(ch: Queryable, since_us: int) -> list[dict[str, int]]:
    """Per minute (epoch s of its start): completed turns, failed turns, failed tool calls."""
    return [
        {k: int(r[k]) for k in ("minute_s", "turns", "turn_errors", "tool_errors")}
        for r in ch.query(THROUGHPUT_SQL, {"since": since_us})
    ]


def topics(ch: Queryable, since_us: int, now_us: int) -> list[dict[str, Any]]:
    """Events per topic in the window and in the last 60 s (``per_s`` = last minute / 60)."""
    rows = ch.query(TOPICS_SQL, {"since": since_us, "recent": now_us - 60_000_000})
    return [
        {"topic": str(r["topic"]), "events": int(r["events"]),
         "last_minute": int(r["last_minute"]), "per_s": round(int(r["last_minute"]) / 60.0, 3)}
        for r in rows
    ]


def denials(ch: Queryable, since_us: int) -> list[dict[str, Any]]:
    """``PolicyDenied`` events by rule (the payload's ``rule``, else its ``reason_code``)."""
    return [{"rule": str(r["rule"]), "denials": int(r["denials"])}
            for r in ch.query(DENIALS_SQL, {"since": since_us})]


def slow_tools(ch: Queryable, since_us: int, limit: int = 10) -> list[dict[str, Any]]:
    """Tools by P95 duration (slowest first), with calls, failures and the maximum."""
    return [
        {"tool": str(r["tool"]), "calls": int(r["calls"]), "failures": int(r["failures"]),
         "p95_ms": _number(r["p95_ms"]) if int(r["calls"]) else 0.0, "max_ms": int(r["max_ms"])}
        for r in ch.query(TOOLS_SQL, {"since": since_us, "limit": limit})
    ]


def slow_turns(ch: Queryable, since_us: int, limit: int = 10) -> list[dict[str, Any]]:
    """The slowest completed turns (each links to its trail in the console)."""
    return [
        {"turn": str(r["turn"]), "tenant": str(r["tenant"]), "session": str(r["session"]),
         "duration_ms": int(r["duration_ms"]), "steps": int(r["steps"]), "ts_us": int(r["ts_us"])}
        for r in ch.query(SLOW_TURNS_SQL, {"since": since_us, "limit": limit})
    ]
