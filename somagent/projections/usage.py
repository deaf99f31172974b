"""The calling tenant's usage and spend from the ledger (``GET /v1/usage``).

The edge owns the HTTP route and calls :func:`usage_for`. The query always
filters on the caller's tenant (bound parameter, never text), so one tenant can
never see another's rows; the ``ix_ledger_tenant_minute`` index serves it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from somagent.projections.exceptions import ProjectionError

GROUP_BY = ("minute", "hour", "day")


class BadUsageQuery(ProjectionError):
    """A usage query with an unknown grouping or an empty/inverted time range."""


async def usage_for(
    pool_or_dsn: Any,
    tenant: uuid.UUID | str,
    from_ts: datetime,
    to_ts: datetime,
    group_by: str = "hour",
) -> list[dict[str, Any]]:
    """Usage of ``tenant`` in ``[from_ts, to_ts)`` bucketed by ``group_by``.

    ``pool_or_dsn`` is an asyncpg pool or connection, or a DSN string. Each row:
    ``bucket`` (aware datetime, UTC), ``tokens``, ``tool_calls``,
    ``storage_bytes``, ``egress_bytes``, ``cost_cents`` (ints; corrections
    included, so the sums equal the usage records) in bucket order.

    Raises:
        BadUsageQuery: ``group_by`` not one of minute/hour/day, naive datetimes,
            or ``from_ts >= to_ts``.
    """
    if group_by not in GROUP_BY:
        raise BadUsageQuery(f"group_by must be one of {', '.join(GROUP_BY)}, got {group_by!r}")
    if from_ts.tzinfo is None or to_ts.tzinfo is None:
        raise BadUsageQuery("from and to must carry a timezone (e.g. 2026-11-24T10:00:00Z)")
    if from_ts >= to_ts:
        raise BadUsageQuery(f"from ({from_ts.isoformat()}) must be before to ({to_ts.isoformat()})")
    sql = (
        "SELECT date_trunc($4, minute, 'UTC') AS bucket, "
        "sum(tokens)::bigint AS tokens, sum(tool_calls)::bigint AS tool_calls, "
        "sum(storage_bytes)::bigint AS storage_bytes, sum(egress_bytes)::bigint AS egress_bytes, "
        "sum(cost_cents)::bigint AS cost_cents "
        "FROM usage_ledger WHERE tenant_id = $1 AND minute >= $2 AND minute < $3 "
        "GROUP BY bucket ORDER BY bucket"
    )
    args = (uuid.UUID(str(tenant)), from_ts, to_ts, group_by)
    if isinstance(pool_or_dsn, str):
        conn = await asyncpg.connect(pool_or_dsn)
        try:
            rows = await conn.fetch(sql, *args)
        finally:
            await conn.close()
    else:
        rows = await pool_or_dsn.fetch(sql, *args)
    return [dict(r) for r in rows]
