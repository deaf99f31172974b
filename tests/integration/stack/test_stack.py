"""The stack's servers are real and reachable through the project's own adapters."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from somagent.config import Settings
from somagent.events.catalog import TOPICS, Topic
from somagent.kafka.admin import ensure_topics, partitions_of
from somagent.kafka.producer import EventProducer
from somagent.kafka.reader import LogReader
from somagent.projections.clickhouse import connect
from somagent.stack.engines import open_qdrant
from somagent.stack.postgres import fetchval
from somagent.stack.stack import RunningStack, Stack

pytestmark = pytest.mark.integration


def test_status_reports_every_component_healthy_with_server_versions(stack: RunningStack) -> None:
    rows = {r.name: r for r in Stack(stack.settings).status() if r.name != "platform"}
    # the servers, the engines, and the roles that own the engines (servers-only layout)
    assert set(rows) == {"kafka", "postgres", "redis", "temporal", "s3", "opa", "clickhouse",
                         "qdrant", "analytics-0", "memory-0", "policy-0"}
    assert rows["analytics-0"].mode == rows["memory-0"].mode == rows["policy-0"].mode == "role"
    assert all(r.healthy for r in rows.values()), rows
    assert rows["kafka"].version == "3.9.1"
    assert rows["postgres"].version and rows["postgres"].version.split(".")[0].isdigit()
    assert rows["redis"].version and rows["redis"].version.count(".") == 2
    assert rows["clickhouse"].version and rows["clickhouse"].version.count(".") >= 2
    assert rows["temporal"].version == "server 1.29.1 (cli 1.5.1)"
    assert rows["s3"].version == "versitygw 1.8.0"  # artifact blobs (issue 15)
    assert rows["opa"].version == "opa 1.22.3"  # the policy engine (issue 16)
    for name in ("kafka", "postgres", "redis", "temporal", "s3", "opa"):
        assert rows[name].pid is not None and rows[name].mode == "local"


def test_second_up_reuses_running_servers(stack: RunningStack) -> None:
    before = {r.name: r.pid for r in Stack(stack.settings).status()}
    Stack(stack.settings).up()
    after = {r.name: r.pid for r in Stack(stack.settings).status()}
    assert before == after


def test_catalog_topics_exist(stack: RunningStack) -> None:
    found = partitions_of(stack.settings, [t.name for t in TOPICS], 10)
    assert {t.name for t in TOPICS} == {topic for topic, _ in found}


def test_kafka_produce_consume_round_trip(settings: Settings) -> None:
    # A scratch topic: raw bytes in conversation.events would reach every reader of
    # the session-wide stack that decodes the whole topic (tests run in any order).
    topic = f"test.stack.{uuid.uuid4().hex[:10]}"
    ensure_topics(settings, [Topic(topic, "test", "round trip", partitions=1)])
    marker = uuid.uuid4().bytes
    producer = EventProducer(settings)
    partition, offset = producer.deliver_raw(topic, b"round-trip:" + marker, marker, [])
    producer.close()
    where = (topic, partition)
    with LogReader(settings, [where], {where: offset}, name="t-stack", config={}) as reader:
        (msg,) = reader.take(1, timeout_s=30)
    assert msg.value() == b"round-trip:" + marker


def test_postgres_round_trip_and_migrations(settings: Settings) -> None:
    import asyncpg

    async def roundtrip() -> tuple[str, str]:
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            tid = uuid.uuid4()
            await conn.execute(
                "INSERT INTO tenants (tenant_id, name, api_key_hash) VALUES ($1, 'acme', $2)",
                tid,
                f"h-{tid}",
            )
            name = await conn.fetchval("SELECT name FROM tenants WHERE tenant_id = $1", tid)
            await conn.execute("DELETE FROM tenants WHERE tenant_id = $1", tid)
            idx = await conn.fetchval(
                "SELECT indexname FROM pg_indexes WHERE indexname = 'ix_ledger_tenant_minute'"
            )
            return name, idx
        finally:
            await conn.close()

    assert asyncio.run(roundtrip()) == ("acme", "ix_ledger_tenant_minute")
    assert fetchval(settings.postgres_dsn, "SELECT count(*) FROM schema_migrations") >= 1


def test_redis_round_trip(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_dsn)
    key = f"test:{uuid.uuid4()}"
    client.set(key, "v", ex=30)
    assert client.get(key) == b"v"
    client.close()


def test_clickhouse_round_trip(settings: Settings) -> None:
    ch = connect(settings)
    ch.execute(
        "CREATE TABLE IF NOT EXISTS roundtrip (k String, v Int64) ENGINE = MergeTree ORDER BY k"
    )
    ch.insert_json_rows("roundtrip", [{"k": "a", "v": 40}, {"k": "b", "v": 2}])
    assert ch.query(
        "SELECT sum(v) AS s FROM roundtrip WHERE k IN {ks:Array(String)}", {"ks": ["a", "b"]}
    ) == [{"s": 42}]
    assert {r["name"] for r in ch.query("SHOW TABLES")} >= {"events", "roundtrip"}


def test_qdrant_round_trip(settings: Settings) -> None:
    from qdrant_client import models

    client = open_qdrant(settings)
    name = f"rt_{uuid.uuid4().hex[:8]}"
    client.create_collection(
        name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
    )  # type: ignore[attr-defined]
    client.upsert(
        name,
        points=[models.PointStruct(id=str(uuid.uuid4()), vector=[1, 0, 0, 0], payload={"t": "x"})],
    )  # type: ignore[attr-defined]
    hits = client.query_points(name, query=[1, 0, 0, 0], limit=1).points  # type: ignore[attr-defined]
    client.close()  # type: ignore[attr-defined]
    assert hits[0].payload == {"t": "x"} and hits[0].score == pytest.approx(1.0)
