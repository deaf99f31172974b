"""Usage as CloudEvents (``somagent usage export``): one event per ``usage_ledger`` row.

The format OpenMeter ingests: CloudEvents 1.0, JSON event format (one event per
line, written by the ``cloudevents`` SDK), ``type`` ``com.somagent.usage``,
``source`` ``somagent``, ``subject`` the tenant id, ``time`` the row's minute window
start, ``data`` the row's counts (``tokens``, ``tool_calls``, ``storage_bytes``,
``egress_bytes``, ``cost_cents``, plus ``agent``, ``session_id``, ``revision``,
``is_correction``). A correction is its own event with its own counts (additive,
as in the ledger).

Guarantee: ``id`` is a UUIDv5 of the row's unique key (tenant, agent, session,
minute, revision), so exporting the same rows again gives the same ids and a
consumer that deduplicates on (source, id) counts each row once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from somagent.contract.ids import stable_id

EVENT_TYPE = "com.somagent.usage"
SOURCE = "somagent"
COUNTS = ("tokens", "tool_calls", "storage_bytes", "egress_bytes", "cost_cents")


def export_id(row: Mapping[str, Any]) -> str:
    """The deterministic CloudEvent id of a ledger row (its unique key's UUIDv5)."""
    minute = row["minute"].astimezone(UTC).isoformat()
    return str(stable_id("usage-export", str(row["tenant_id"]), row["agent"],
                         str(row["session_id"]), minute, int(row["revision"])))


def to_cloudevent(row: Mapping[str, Any]) -> CloudEvent:
    data: dict[str, Any] = {k: int(row[k]) for k in COUNTS}
    data.update(agent=str(row["agent"]), session_id=str(row["session_id"]),
                revision=int(row["revision"]), is_correction=bool(row["is_correction"]))
    return CloudEvent(
        {"id": export_id(row), "source": SOURCE, "type": EVENT_TYPE,
         "subject": str(row["tenant_id"]), "time": row["minute"].astimezone(UTC),
         "datacontenttype": "application/json"},
        data,
    )


def to_lines(rows: Iterable[Mapping[str, Any]]) -> Iterable[bytes]:
    """One JSON-format CloudEvent per row, in the rows' order."""
    fmt = JSONFormat()
    for row in rows:
        yield fmt.write(to_cloudevent(row))


async def ledger_rows(dsn: str, tenant: str | None, start: datetime, end: datetime
                      ) -> list[dict[str, Any]]:
    """``usage_ledger`` rows with ``minute`` in ``[start, end)`` (one tenant or all), in a
    stable order (minute, tenant, agent, session, revision)."""
    sql = ("SELECT tenant_id, agent, session_id, minute, revision, tokens, tool_calls, "
           "storage_bytes, egress_bytes, cost_cents, is_correction FROM usage_ledger "
           "WHERE minute >= $1 AND minute < $2 AND ($3::uuid IS NULL OR tenant_id = $3) "
           "ORDER BY minute, tenant_id, agent, session_id, revision")
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch(sql, start, end, uuid.UUID(tenant) if tenant else None)
    finally:
        await conn.close()
    return [dict(r) for r in rows]
