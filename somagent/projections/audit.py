"""Audit trails and analysts' read-only SQL.

:func:`trail` returns every event of a turn or a trace, decoded, with its Kafka
position, in order (event time, then seq, then position). It reads ClickHouse
``events`` when a ClickHouse server is configured, else it scans the log itself
(the embedded chDB directory belongs to the platform process while it runs).

:func:`read_only_sql` runs one SELECT (or WITH … SELECT, SHOW, DESCRIBE, EXPLAIN)
and refuses anything else before it reaches the engine.
"""

from __future__ import annotations

import json
import re
from typing import Any

from somagent.config import Settings
from somagent.contract.envelope import plain
from somagent.kafka.admin import end_offsets, partitions_of
from somagent.kafka.reader import LogReader
from somagent.kafka.schema_log import kafka_codec
from somagent.projections.chproj import TOPICS
from somagent.projections.clickhouse import ClickHouse, connect
from somagent.projections.exceptions import ReadOnlyViolation

TRAIL_COLUMNS = ("ts_us", "topic", "partition", "offset", "seq", "type", "event_id", "payload")
_READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN)\b", re.IGNORECASE)
_WRITE = re.compile(
    r"\b(INSERT|ALTER|DROP|CREATE|TRUNCATE|RENAME|OPTIMIZE|ATTACH|DETACH|KILL|SYSTEM|GRANT|"
    r"REVOKE|SET|DELETE|UPDATE|EXCHANGE|UNDROP|BACKUP|RESTORE)\b",
    re.IGNORECASE,
)


def check_read_only(sql: str) -> str:
    """``sql`` without a trailing ``;`` if it is one read-only statement.

    Raises:
        ReadOnlyViolation: several statements, or anything but a read.
    """
    text = sql.strip().rstrip(";").strip()
    without_strings = re.sub(r"'(?:[^'\\]|\\.)*'", "''", text)
    if ";" in without_strings:
        raise ReadOnlyViolation("somagent sql runs exactly one statement; found several")
    if not _READ_ONLY.match(text) or _WRITE.search(without_strings):
        raise ReadOnlyViolation(
            "somagent sql is read-only: only SELECT, WITH, SHOW, DESCRIBE or EXPLAIN"
        )
    return text


def read_only_sql(ch: ClickHouse, sql: str) -> list[dict[str, Any]]:
    """Rows of one read-only statement (with ``readonly=1`` where the engine honours it)."""
    text = check_read_only(sql)
    return ch.query(text)


def trail(
    settings: Settings, *, turn: str | None = None, trace: str | None = None
) -> list[dict[str, Any]]:
    """The ordered events of ``turn`` or ``trace`` (exactly one must be given)."""
    if (turn is None) == (trace is None):
        raise ValueError("give exactly one of turn or trace")
    if settings.clickhouse_url:
        return trail_from_clickhouse(connect(settings), turn=turn, trace=trace)
    return trail_from_log(settings, turn=turn, trace=trace)


def trail_from_clickhouse(
    ch: ClickHouse, *, turn: str | None = None, trace: str | None = None
) -> list[dict[str, Any]]:
    column, value = ("turn", turn) if turn is not None else ("trace_id", trace)
    rows = ch.query(
        "SELECT ts_us, topic, kafka_partition AS partition, kafka_offset AS offset, seq, type, "
        f"event_id, payload FROM events FINAL WHERE {column} = {{value:String}} "
        "ORDER BY ts_us, seq, topic, kafka_partition, kafka_offset",
        {"value": value},
    )
    return [{**r, "payload": json.loads(r["payload"])} for r in rows]


def trail_from_log(
    settings: Settings, *, turn: str | None = None, trace: str | None = None
) -> list[dict[str, Any]]:
    """Scan every catalog topic from offset 0 to its current end (no store needed)."""
    parts = partitions_of(settings, TOPICS)
    ends = end_offsets(settings, parts)
    reader = LogReader(
        settings, parts, {}, name="audit", codec=kafka_codec(settings), dead_letters=False
    )
    found = []
    try:
        while not reader.caught_up(ends):
            for r in reader.batch(20_000, 0.5):
                e = r.event
                hit = (turn is not None and e["turn"] is not None and str(e["turn"]) == turn) or (
                    trace is not None and e["trace_id"] == trace
                )
                if hit:
                    found.append(
                        {
                            "ts_us": plain(e["ts"]),
                            "topic": r.topic,
                            "partition": r.partition,
                            "offset": r.offset,
                            "seq": e["seq"],
                            "type": e["type"],
                            "event_id": str(e["event_id"]),
                            "payload": plain(e["payload"]),
                        }
                    )
    finally:
        reader.close()
    # A redelivered event appears once, at its last position: the same copy the
    # ClickHouse `events` table keeps (ReplacingMergeTree versioned by offset).
    last: dict[str, dict[str, Any]] = {}
    for row in found:
        kept = last.get(row["event_id"])
        if kept is None or (row["partition"], row["offset"]) > (kept["partition"], kept["offset"]):
            last[row["event_id"]] = row
    return sorted(
        last.values(),
        key=lambda x: (x["ts_us"], x["seq"], x["topic"], x["partition"], x["offset"]),
    )
