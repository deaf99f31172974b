"""Replay: rebuild read models from offset 0 into fresh tables and verify them.

``replay_postgres`` / ``replay_clickhouse`` read every partition of the
projector's topics from offset 0 up to fixed end offsets into ``*_replay``
tables, with the same projector code as live. With ``verify``, the end offsets
are the live projector's stored positions, and each table's rows are compared
by key and content hash (order-independent): the report lists the keys that
are missing, extra or different.

For Postgres the live positions and live row hashes are read in one
REPEATABLE READ snapshot, so a projector running meanwhile does not disturb the
comparison. For ClickHouse, live ``events`` rows are restricted to offsets below
the captured positions; the usage rollup is compared as a whole, which is exact
when the live projector has caught up with the log.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg

from somagent.config import Settings
from somagent.events.codec import EventCodec
from somagent.kafka.admin import end_offsets, partitions_of
from somagent.kafka.reader import LogReader
from somagent.kafka.records import TopicPart
from somagent.kafka.schema_log import kafka_codec
from somagent.projections import chavro, chproj, chreplay, postgres
from somagent.projections.clickhouse import ClickHouse, connect
from somagent.projections.exceptions import ProjectionError

SUFFIX = "_replay"
Progress = Callable[[int, int], None]


@dataclass
class TableCheck:
    """One table's comparison: row counts, checksums, and the differing keys."""

    table: str
    live_rows: int
    replay_rows: int
    live_checksum: int
    replay_checksum: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.different)


@dataclass
class ReplayReport:
    projection: str
    events: int
    seconds: float
    tables: list[TableCheck] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return all(t.equal for t in self.tables)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def compare(table: str, live: dict[str, Any], replay: dict[str, Any]) -> TableCheck:
    """Keys missing from the replay, extra in it, and present in both with other content."""

    def checksum(rows: dict[str, Any]) -> int:
        return sum(int(str(h), 16) if isinstance(h, str) else int(h) for h in rows.values()) % 2**64

    return TableCheck(
        table,
        len(live),
        len(replay),
        checksum(live),
        checksum(replay),
        missing=sorted(set(live) - set(replay)),
        extra=sorted(set(replay) - set(live)),
        different=sorted(k for k in set(live) & set(replay) if live[k] != replay[k]),
    )


async def replay_postgres(
    settings: Settings,
    *,
    verify: bool = False,
    live_name: str = "postgres",
    progress: Progress | None = None,
) -> ReplayReport:
    """Rebuild sessions/turns/usage_ledger into ``*_replay`` and optionally verify."""
    import time

    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        parts = partitions_of(settings, postgres.TOPICS)
        live_hashes: dict[str, dict[str, str]] = {}
        if verify:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                stored = await postgres.PostgresProjector(conn, name=live_name).positions()
                for table in postgres.TABLES:
                    live_hashes[table] = await postgres.table_hashes(
                        conn, table, postgres.KEYS[table]
                    )
            ends = {tp: stored.get(tp, 0) for tp in parts}
        else:
            ends = end_offsets(settings, parts)
        proj = postgres.PostgresProjector(conn, name=f"{live_name}{SUFFIX}", suffix=SUFFIX)
        await proj.create_fresh_tables()
        reader = LogReader(
            settings,
            parts,
            {},
            name=f"{live_name}{SUFFIX}",
            codec=kafka_codec(settings),
            dead_letters=False,
        )
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        pending: list[Any] = []

        def collect(records: list[Any]) -> None:
            pending.append((records, dict(reader.positions)))

        events = 0
        try:
            while not reader.caught_up(ends):
                await loop.run_in_executor(None, _one_batch, reader, ends, collect, progress)
                for records, positions in pending:
                    await proj.apply(records, positions)
                    events += len(records)
                pending.clear()
        finally:
            reader.close()
        report = ReplayReport("postgres", events, time.monotonic() - started)
        if verify:
            for table in postgres.TABLES:
                replayed = await postgres.table_hashes(conn, proj.t[table], postgres.KEYS[table])
                report.tables.append(compare(table, live_hashes[table], replayed))
        return report
    finally:
        await conn.close()


def _one_batch(
    reader: LogReader,
    ends: dict[TopicPart, int],
    collect: Callable[[list[Any]], None],
    progress: Progress | None,
) -> None:
    records = [
        r for r in reader.batch(20_000, 0.1) if r.offset < ends.get((r.topic, r.partition), 0)
    ]
    for tp, end in ends.items():
        reader.positions[tp] = min(reader.positions.get(tp, 0), end)
    collect(records)
    if progress is not None:
        progress(sum(reader.positions.get(tp, 0) for tp in ends), sum(ends.values()))


def replay_clickhouse(
    settings: Settings,
    *,
    verify: bool = False,
    live_name: str = "clickhouse",
    ch: ClickHouse | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    engine_decode: bool | None = None,
) -> ReplayReport:
    """Rebuild ``events`` (and its rollups) into ``*_replay`` and optionally verify.

    Through the analytics service (and a writer schema :mod:`chavro` supports),
    ClickHouse decodes the Avro itself (``engine_decode``, the default there; rows identical to the
    Python path's). Otherwise ``workers`` > 1 reads and decodes disjoint sets of
    partitions in that many processes while this one inserts (the default: half
    the CPUs but at least 2, at most 8 and one per partition, for logs of
    100,000 records or more; else 1).
    """
    import time

    ch = ch or connect(settings)
    live = chproj.ClickHouseProjector(ch, name=live_name)
    parts = partitions_of(settings, chproj.TOPICS)
    if verify:
        stored = live.positions()
        ends = {tp: stored.get(tp, 0) for tp in parts}
    else:
        ends = end_offsets(settings, parts)
    proj = chproj.ClickHouseProjector(ch, name=f"{live_name}{SUFFIX}", suffix=SUFFIX)
    proj.ensure_tables(fresh=True)
    codec = kafka_codec(settings)
    started = time.monotonic()
    served = ch.backend == "http" and not settings.clickhouse_url
    rows = _engine_rows(codec, served) if engine_decode is not False else None
    if engine_decode and rows is None:
        raise ProjectionError(
            "engine decoding needs the analytics service and a writer schema chavro supports"
        )
    if rows is not None:
        events = _replay_engine(settings, codec, rows, proj, parts, ends, progress)
    else:
        events = _replay_python(settings, proj, parts, ends, workers, progress)
    report = ReplayReport("clickhouse", events, time.monotonic() - started)
    if verify:
        live_rows = _live_event_hashes(live, ends)
        report.tables.append(compare("events", live_rows, proj.row_hashes()))
        report.tables.append(
            compare(
                "usage_by_minute",
                _usage_rows(live.usage_totals()),
                _usage_rows(proj.usage_totals()),
            )
        )
    return report


def _engine_rows(codec: EventCodec, served: bool) -> chavro.RowSchema | None:
    """The container layout when the analytics service can decode the Avro itself
    (``input()`` without a structure is the service's; servers need one)."""
    if not served:
        return None
    try:
        return chavro.row_schema(codec.writer.schema)
    except chavro.Unsupported:
        return None


T = TypeVar("T")


def _pipeline(
    batches: Iterator[T],
    apply: Callable[[T], int],
    positions: Callable[[T], dict[TopicPart, int]],
    ends: dict[TopicPart, int],
    progress: Progress | None,
) -> int:
    """Apply each batch in a second thread while the next one is read; the rows applied.

    The insert of one batch overlaps the reading of the next (the engine call
    releases the GIL); at most one insert is in flight, and batches are applied
    in order, each writing its positions after its rows.
    """
    events = 0
    total = sum(ends.values())
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-insert")
    pending: Future[int] | None = None
    try:
        for batch in batches:
            if pending is not None:
                events += pending.result()
            pending = pool.submit(apply, batch)
            if progress is not None:
                done = positions(batch)
                progress(sum(min(done.get(tp, 0), e) for tp, e in ends.items()), total)
        if pending is not None:
            events += pending.result()
    finally:
        pool.shutdown(wait=True)
    return events


def _replay_engine(
    settings: Settings,
    codec: EventCodec,
    rows: chavro.RowSchema,
    proj: chproj.ClickHouseProjector,
    parts: list[TopicPart],
    ends: dict[TopicPart, int],
    progress: Progress | None,
) -> int:
    """One reader, no Avro decoding in Python; ClickHouse decodes (see :mod:`chreplay`)."""
    reader = LogReader(settings, parts, {}, name=proj.name, codec=codec, dead_letters=False)
    inserter = chreplay.AvroInserter(proj, rows, reader)
    try:
        batches = chreplay.raw_batches(reader, chreplay.Splitter(codec.fingerprint, ends), ends)
        return _pipeline(batches, inserter.insert, lambda b: b.positions, ends, progress)
    finally:
        inserter.close()
        reader.close()


def _replay_python(
    settings: Settings,
    proj: chproj.ClickHouseProjector,
    parts: list[TopicPart],
    ends: dict[TopicPart, int],
    workers: int | None,
    progress: Progress | None,
) -> int:
    """Decode in Python (in ``workers`` processes) and insert columns."""
    if workers is None:
        big = sum(ends.values()) >= 100_000
        # About half the CPUs (at least 2): the inserting process and, on a local
        # stack, the broker need the rest. Measured 1.7x over one reader on 2 CPUs.
        cpus = os.cpu_count() or 1
        workers = max(1, min(max(2, cpus // 2), 8, len(parts))) if big else 1
    batches = (
        _parallel_batches(settings, parts, ends, workers, proj.name)
        if workers > 1
        else _serial_batches(settings, parts, ends, proj.name)
    )

    def apply(batch: Batch) -> int:
        return proj.apply_columns(*batch)

    return _pipeline(batches, apply, lambda b: b[1], ends, progress)


Batch = tuple[list[list[Any]], dict[TopicPart, int]]


def _bounded_batch(reader: LogReader, ends: dict[TopicPart, int]) -> list[Any]:
    """One batch below ``ends``; positions clamped to ``ends``."""
    records = [
        r for r in reader.batch(20_000, 0.1) if r.offset < ends.get((r.topic, r.partition), 0)
    ]
    for tp, end in ends.items():
        reader.positions[tp] = min(reader.positions.get(tp, 0), end)
    return records


def _serial_batches(
    settings: Settings, parts: list[TopicPart], ends: dict[TopicPart, int], name: str
) -> Iterator[Batch]:
    reader = LogReader(
        settings, parts, {}, name=name, codec=kafka_codec(settings), dead_letters=False
    )
    try:
        while not reader.caught_up(ends):
            records = _bounded_batch(reader, ends)
            yield chproj.event_columns(records), dict(reader.positions)
    finally:
        reader.close()


def _decode_worker(
    settings_json: str, parts: list[TopicPart], ends: dict[TopicPart, int], name: str, queue: Any
) -> None:
    """A replay process: read ``parts`` up to ``ends``, send column batches to ``queue``."""
    try:
        settings = Settings.model_validate_json(settings_json)
        reader = LogReader(
        settings, parts, {}, name=name, codec=kafka_codec(settings), dead_letters=False
    )
        try:
            while not reader.caught_up(ends):
                records = _bounded_batch(reader, ends)
                queue.put(("rows", chproj.event_columns(records), dict(reader.positions)))
        finally:
            reader.close()
        queue.put(("done", None, dict(reader.positions)))
    except BaseException as exc:  # reported by the parent, which raises it
        queue.put(("error", f"{type(exc).__name__}: {exc}", {}))


def _parallel_batches(
    settings: Settings, parts: list[TopicPart], ends: dict[TopicPart, int], workers: int, name: str
) -> Iterator[Batch]:
    """Batches from ``workers`` processes, each owning every ``workers``-th partition.

    Positions are merged: a batch's positions cover only rows already yielded.
    """
    ctx = multiprocessing.get_context("spawn")  # never fork a process holding chDB/librdkafka
    queue = ctx.Queue(maxsize=4 * workers)
    groups = [parts[i::workers] for i in range(workers)]
    procs = [
        ctx.Process(
            target=_decode_worker,
            args=(settings.model_dump_json(), g, {tp: ends[tp] for tp in g}, f"{name}-{i}", queue),
            daemon=True,
        )
        for i, g in enumerate(groups)
    ]
    for proc in procs:
        proc.start()
    positions: dict[TopicPart, int] = {}
    finished = 0
    try:
        while finished < workers:
            try:
                kind, columns, pos = queue.get(timeout=300)
            except Exception as exc:
                raise ProjectionError(f"replay {name}: no batch from a reader in 300 s") from exc
            if kind == "error":
                raise ProjectionError(f"replay {name}: a reader process failed: {columns}")
            positions.update(pos)
            if kind == "done":
                finished += 1
            elif columns and columns[0]:
                yield columns, dict(positions)
        yield [], dict(positions)
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()


def _live_event_hashes(
    live: chproj.ClickHouseProjector, ends: dict[TopicPart, int]
) -> dict[str, int]:
    if not ends:
        return {}
    bound = " OR ".join(
        f"(topic = '{t}' AND kafka_partition = {p} AND kafka_offset < {end})"
        for (t, p), end in sorted(ends.items())
    )
    cols = ", ".join(chproj.CHECKSUM_COLUMNS)
    rows = live.ch.query(
        f"SELECT event_id, toString(cityHash64({cols})) AS h FROM {live.events_table} FINAL "
        f"WHERE {bound}"
    )
    return {str(r["event_id"]): int(r["h"]) for r in rows}


def _usage_rows(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {
        f"{r['tenant']}/{r['minute']}": hash(
            (r["tokens"], r["tool_calls"], r["storage_bytes"], r["egress_bytes"], r["cost_cents"])
        )
        % 2**63
        for r in rows
    }
