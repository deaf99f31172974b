"""The ClickHouse projector: every event of every catalog topic into ``events``.

Guarantees:

* Rows are keyed by event id (``events`` is a ReplacingMergeTree, the usage
  rollup a uniq-array set of ledger ids), so inserting a row twice never double
  counts.
* Positions are written to ``projector_positions`` **after** the batch's rows, so
  a crash between the two re-inserts the batch on restart (harmless, above)
  instead of skipping it. A projector killed at any point therefore converges to
  the content of an uninterrupted run.
* ``suffix`` projects into a parallel set of tables (``events_replay`` ...).

The same statements run on chDB and on a ClickHouse server (18.16 and later).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from somagent.events.catalog import (
    ARTIFACTS,
    BILLING_LEDGER,
    BILLING_USAGE,
    CONVERSATION,
    GATEWAY_AUDIT,
    JOBS,
    MEMORY,
)
from somagent.kafka.records import Record, TopicPart
from somagent.projections.clickhouse import ClickHouse, apply_ddl, drop_objects

TOPICS = (
    CONVERSATION, BILLING_USAGE, BILLING_LEDGER, MEMORY, GATEWAY_AUDIT, JOBS, ARTIFACTS
)
EVENT_COLUMNS = (
    "event_id",
    "type",
    "ts_us",
    "tenant",
    "session",
    "turn",
    "trace_id",
    "seq",
    "producer",
    "topic",
    "kafka_partition",
    "kafka_offset",
    "payload",
)
# The columns a row's content checksum covers (``ts`` is derived from ts_us).
CHECKSUM_COLUMNS = EVENT_COLUMNS
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def event_columns(records: Iterable[Record]) -> list[list[Any]]:
    """Column-major values of ``events`` for ``records`` (payload as compact JSON).

    Records come from :class:`LogReader`, whose events are already plain (UUIDs as
    strings, timestamps as epoch µs), so the payload serialises as it is.
    """
    cols: list[list[Any]] = [[] for _ in EVENT_COLUMNS]
    (eid, typ, ts, ten, ses, trn, trc, seq, prod, top, par, off, pay) = cols
    for r in records:
        e = r.event
        eid.append(e["event_id"])
        typ.append(e["type"])
        ts.append(e["ts"])
        ten.append(e["tenant"])
        ses.append(e["session"] or "")
        trn.append(e["turn"] or "")
        trc.append(e["trace_id"])
        seq.append(e["seq"])
        prod.append(e["producer"])
        top.append(r.topic)
        par.append(r.partition)
        off.append(r.offset)
        pay.append(_dumps(e["payload"]))
    return cols


class ClickHouseProjector:
    """Applies decoded batches to ClickHouse; see the module docstring."""

    def __init__(self, ch: ClickHouse, *, name: str = "clickhouse", suffix: str = "") -> None:
        self.ch = ch
        self.name = name
        self.suffix = suffix
        self.events_table = f"events{suffix}"
        self.positions_table = f"projector_positions{suffix}"

    def ensure_tables(self, *, fresh: bool = False) -> None:
        """Create the tables (``fresh`` drops suffixed ones first, for replay)."""
        if fresh:
            drop_objects(self.ch, self.suffix)
        apply_ddl(self.ch, suffix=self.suffix)

    def positions(self) -> dict[TopicPart, int]:
        rows = self.ch.query(
            f"SELECT topic, kafka_partition AS p, argMax(next_offset, updated_us) AS next_offset "
            f"FROM {self.positions_table} WHERE projector = {{name:String}} "
            "GROUP BY topic, kafka_partition",
            {"name": self.name},
        )
        return {(str(r["topic"]), int(r["p"])): int(r["next_offset"]) for r in rows}

    def apply(self, records: list[Record], positions: Mapping[TopicPart, int]) -> int:
        """Insert ``records``, then record ``positions``; return the rows inserted."""
        return self.apply_columns(event_columns(records), positions)

    def apply_columns(self, columns: list[list[Any]], positions: Mapping[TopicPart, int]) -> int:
        """Insert rows given column-major (:func:`event_columns`), then record ``positions``."""
        inserted = 0
        if columns and columns[0]:
            inserted = self.ch.insert_columns(self.events_table, EVENT_COLUMNS, columns)
        now_us = time.time_ns() // 1000
        items = sorted(positions.items())
        if items:
            self.ch.insert_columns(
                self.positions_table,
                ("projector", "topic", "kafka_partition", "next_offset", "updated_us"),
                [
                    [self.name] * len(items),
                    [t for (t, _), _ in items],
                    [p for (_, p), _ in items],
                    [off for _, off in items],
                    [now_us] * len(items),
                ],
            )
        return inserted

    def row_hashes(self, table: str | None = None) -> dict[str, int]:
        """event_id → hash of the deduplicated row's content, for replay verification."""
        cols = ", ".join(CHECKSUM_COLUMNS)
        rows = self.ch.query(
            f"SELECT event_id, toString(cityHash64({cols})) AS h "
            f"FROM {table or self.events_table} FINAL"
        )
        return {str(r["event_id"]): int(r["h"]) for r in rows}

    def usage_totals(self) -> list[dict[str, Any]]:
        """Rolled-up usage per tenant and minute (every distinct ledger row once)."""
        rows = self.ch.query(
            "SELECT tenant, toString(minute) AS minute, sum(tokens) AS tokens, "
            "sum(tool_calls) AS tool_calls, sum(storage_bytes) AS storage_bytes, "
            "sum(egress_bytes) AS egress_bytes, sum(cost_cents) AS cost_cents "
            f"FROM usage_by_minute{self.suffix} GROUP BY tenant, minute ORDER BY tenant, minute"
        )
        return [
            {k: (int(v) if k not in ("tenant", "minute") else str(v)) for k, v in r.items()}
            for r in rows
        ]
