"""Replay throughput: events/s rebuilding the ClickHouse and Postgres read models.

On a fresh local stack, ``--events`` example events (every payload type, whole
turns) are appended to the catalog topics; then ``replay_clickhouse`` and
``replay_postgres`` rebuild their ``*_replay`` tables from offset 0, exactly as
``somagent replay`` does. The baseline in the same run is raw fastavro
``schemaless_reader`` over the same bodies (decoding alone) and reading the same
log with no decoding at all (``log_read_only``: the Kafka client's ceiling on
this machine); ``ratio`` is replay events/s over the raw decode rate. By default
chDB decodes the Avro (``somagent.projections.chavro``); ``--python-decode``
measures the Python path that ClickHouse servers use. Prints
one JSON object; timings are never asserted.
Target: ≥ 100,000 events/s into ClickHouse.
"""

from __future__ import annotations

import sys

# bench/ holds math.py, which would shadow the standard library's math module.
sys.path[:] = [p for p in sys.path if not p.endswith("bench")]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from fastavro import schemaless_reader  # noqa: E402

from somagent.config import Settings  # noqa: E402
from somagent.events.catalog import topic_for  # noqa: E402
from somagent.events.codec import HEADER_SIZE, EventCodec  # noqa: E402
from somagent.events.examples import example_events  # noqa: E402
from somagent.kafka.admin import partitions_of  # noqa: E402
from somagent.kafka.producer import EventProducer  # noqa: E402
from somagent.kafka.schema_log import kafka_registry  # noqa: E402
from somagent.projections import chproj  # noqa: E402
from somagent.projections.replay import replay_clickhouse, replay_postgres  # noqa: E402
from somagent.stack.testing import throwaway_stack  # noqa: E402


def bench_stack(partitions: int = 6) -> contextlib.AbstractContextManager[Settings]:
    """The real stack in a temporary directory on free loopback ports; stopped afterwards."""
    return throwaway_stack(partitions=partitions)


def _consume_only(settings: Settings, n: int) -> float:
    """Records/s of reading the same log with no decoding at all (the Kafka ceiling).

    Deliberately the raw confluent-kafka client, not ``somagent.kafka.LogReader``:
    the baseline is the client itself.

    Same consumer settings as the projectors' ``LogReader``: explicit start
    offsets (no ListOffsets round trip) and short ``consume`` timeouts (no wait
    for a full last batch), so start-up is not measured as reading.
    """
    parts = partitions_of(settings, chproj.TOPICS)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_servers,
            "group.id": "bench-read",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "queued.min.messages": 200_000,
        }
    )
    consumer.assign([TopicPartition(t, p, 0) for t, p in parts])
    got, start = 0, time.perf_counter()
    deadline = time.monotonic() + 120.0  # never forever: a short read is reported as such
    try:
        while got < n and time.monotonic() < deadline:
            got += len(consumer.consume(20_000, 0.1))
    finally:
        consumer.close()
    return got / (time.perf_counter() - start)


def _bare_clickhouse_insert(settings: Settings, events: int) -> float:
    """Events/s of bulk-inserting the rows replay produced, with no decoding or logic."""
    from somagent.projections.clickhouse import connect

    ch = connect(settings)
    tables = [
        r["name"]
        for r in ch.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND name LIKE '%\\_replay' AND engine NOT LIKE '%View'"
        )
    ]
    batches = []
    for table in tables:
        rows = ch.query(f"SELECT * FROM {table}")
        if rows:
            ch.execute(f"DROP TABLE IF EXISTS {table}_bare")
            ch.execute(f"CREATE TABLE {table}_bare AS {table}")
            cols = list(rows[0])
            batches.append((f"{table}_bare", cols, [[r[c] for r in rows] for c in cols]))
    start = time.perf_counter()
    for name, cols, data in batches:
        ch.insert_columns(name, cols, data)
    return events / (time.perf_counter() - start)


async def _bare_postgres_insert(settings: Settings, events: int) -> float:
    """Events/s of COPYing the rows replay produced into empty copies of its tables."""
    import asyncpg

    from somagent.projections import postgres

    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        batches = []
        for table in postgres.TABLES:
            rows = await conn.fetch(f"SELECT * FROM {table}_replay")
            await conn.execute(
                f"CREATE TEMP TABLE {table}_bare (LIKE {table}_replay INCLUDING DEFAULTS)"
            )
            batches.append((f"{table}_bare", [tuple(r.values()) for r in rows]))
        start = time.perf_counter()
        for name, records in batches:
            if records:
                await conn.copy_records_to_table(name, records=records)
        return events / (time.perf_counter() - start)
    finally:
        await conn.close()


def run(n: int, workers: int | None = None, engine: bool | None = None) -> dict[str, Any]:
    events: list[dict[str, Any]] = []
    seed = 0
    while len(events) < n:
        events.extend(example_events(seed))
        seed += 1
    events = events[:n]
    with bench_stack() as settings:
        codec = EventCodec(kafka_registry(settings))
        bodies = [codec.encode(e)[HEADER_SIZE:] for e in events]
        parsed = codec.writer.parsed
        start = time.perf_counter()
        for body in bodies:
            schemaless_reader(io.BytesIO(body), parsed, None)
        raw = n / (time.perf_counter() - start)

        producer = EventProducer(settings, codec)
        for e in events:
            producer.send(e)
        producer.close()

        # What the ClickHouse projection reads: some example events live on topics it
        # does not (the policy decision log), and a read waiting for all n would not end.
        projected = sum(topic_for(str(e["type"])) in chproj.TOPICS for e in events)
        log_read = _consume_only(settings, projected)
        ch = replay_clickhouse(settings, workers=workers, engine_decode=engine)
        pg = asyncio.run(replay_postgres(settings))
        ch_bare = _bare_clickhouse_insert(settings, ch.events)
        pg_bare = asyncio.run(_bare_postgres_insert(settings, pg.events))
    return {
        "benchmark": "replay",
        "events": n,
        "raw_decode_events_per_s": round(raw),
        "log_read_only_events_per_s": round(log_read),
        "clickhouse_events": ch.events,
        "clickhouse_seconds": round(ch.seconds, 3),
        "clickhouse_events_per_s": round(ch.events_per_s),
        "postgres_events": pg.events,
        "postgres_seconds": round(pg.seconds, 3),
        "postgres_events_per_s": round(pg.events_per_s),
        "clickhouse_ratio": round(ch.events_per_s / raw, 3),
        "postgres_ratio": round(pg.events_per_s / raw, 3),
        "clickhouse_bare_insert_events_per_s": round(ch_bare),
        "postgres_bare_insert_events_per_s": round(pg_bare),
        "clickhouse_ratio_vs_bare_insert": round(ch.events_per_s / ch_bare, 3),
        "postgres_ratio_vs_bare_insert": round(pg.events_per_s / pg_bare, 3),
        "bare_insert": (
            "the rows replay produced, read back and bulk-inserted again into an empty "
            "copy of each table (ClickHouse: one columnar INSERT per table; Postgres: "
            "COPY per table); events/s = replayed events / insert seconds"
        ),
        "target_clickhouse_events_per_s": 100_000,
        "clickhouse_backend": "chdb",
        "clickhouse_decoder": "python" if engine is False else "chdb (Avro read by ClickHouse)",
        "clickhouse_reader_processes": (workers or "default") if engine is False else 1,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--quick", action="store_true", help="50,000 events")
    parser.add_argument(
        "--workers", type=int, default=None, help="reader processes (with --python-decode)"
    )
    parser.add_argument(
        "--python-decode",
        action="store_true",
        help="decode the Avro in Python (the path for ClickHouse servers) instead of in chDB",
    )
    args = parser.parse_args(argv)
    engine = False if args.python_decode else None
    print(json.dumps(run(50_000 if args.quick else args.events, args.workers, engine)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
