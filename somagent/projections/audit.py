"""Audit trails and analysts' read-only SQL.

:func:`trail` returns every event of a turn, a trace or a job, decoded, with its Kafka
position, in order (event time, then seq, then position). A job's trail is every event
of its sessions and its sub-jobs' (:mod:`somagent.jobs.lineage`): the job events, the
turns its turn steps ran, and its usage. It reads ClickHouse
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
    settings: Settings,
    *,
    turn: str | None = None,
    trace: str | None = None,
    job: str | None = None,
) -> list[dict[str, Any]]:
    """The ordered events of ``turn``, ``trace`` or ``job`` (exactly one must be given)."""
    if sum(x is not None for x in (turn, trace, job)) != 1:
        raise ValueError("give exactly one of turn, trace or job")
    sessions = job_sessions(settings, job) if job is not None else None
    if settings.clickhouse_url:
        return trail_from_clickhouse(connect(settings), turn=turn, trace=trace,
                                     sessions=sessions)
    return trail_from_log(settings, turn=turn, trace=trace, sessions=sessions)


def job_sessions(settings: Settings, job: str) -> list[str]:
    """The sessions of ``job`` and its sub-jobs, from its ``JobSubmitted`` spec.

    Raises:
        JobNotFound: ``jobs.events`` has no ``JobSubmitted`` for ``job``.
    """
    from somagent.events.catalog import JOBS
    from somagent.jobs.exceptions import JobNotFound
    from somagent.jobs.keylog import KeyedLog
    from somagent.jobs.lineage import tree_sessions

    log = KeyedLog(settings, kafka_codec(settings), JOBS, readers=1)
    try:
        partition = log.partition_of(job)
        got = log.read(partition, 0, job, end=log.end_offset(partition),
                       until=lambda e: e["type"] == "JobSubmitted")
    finally:
        log.close()
    if not got.stopped:
        raise JobNotFound(f"job {job}: no JobSubmitted in {JOBS} partition {partition}")
    return tree_sessions(job, json.loads(got.records[-1].event["payload"]["spec_json"]))


def trail_from_clickhouse(
    ch: ClickHouse,
    *,
    turn: str | None = None,
    trace: str | None = None,
    sessions: list[str] | None = None,
) -> list[dict[str, Any]]:
    params: dict[str, Any]
    if sessions is not None:
        where, params = "session IN {sessions:Array(String)}", {"sessions": sessions}
    else:
        column, value = ("turn", turn) if turn is not None else ("trace_id", trace)
        where, params = f"{column} = {{value:String}}", {"value": value}
    rows = ch.query(
        "SELECT ts_us, topic, kafka_partition AS partition, kafka_offset AS offset, seq, type, "
        f"event_id, payload FROM events FINAL WHERE {where} "
        "ORDER BY ts_us, seq, topic, kafka_partition, kafka_offset",
        params,
    )
    return [{**r, "payload": json.loads(r["payload"])} for r in rows]


def trail_from_log(
    settings: Settings,
    *,
    turn: str | None = None,
    trace: str | None = None,
    sessions: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Scan every catalog topic from offset 0 to its current end (no store needed)."""
    parts = partitions_of(settings, TOPICS)
    ends = end_offsets(settings, parts)
    reader = LogReader(
        settings, parts, {}, name="audit", codec=kafka_codec(settings), dead_letters=False
    )
    found = []
    wanted = None if sessions is None else set(sessions)
    try:
        while not reader.caught_up(ends):
            for r in reader.batch(20_000, 0.5):
                e = r.event
                hit = (
                    (turn is not None and e["turn"] is not None and str(e["turn"]) == turn)
                    or (trace is not None and e["trace_id"] == trace)
                    or (wanted is not None and e["session"] is not None
                        and str(e["session"]) in wanted)
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
