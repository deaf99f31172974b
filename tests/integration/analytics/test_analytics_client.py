"""``HttpClickHouse`` against the analytics service: the contract projectors and replay need."""

from __future__ import annotations

import io
import json
import threading
import uuid

import fastavro
import pytest
from analytics_helpers import Analytics, TenantData

from somagent.analytics.client import HttpClickHouse
from somagent.analytics.connect import analytics_client
from somagent.analytics.exceptions import AnalyticsError, ClickHouseError
from somagent.config import Settings
from somagent.contract.envelope import plain
from somagent.events.examples import example_events
from somagent.kafka.records import Record
from somagent.projections import chproj
from somagent.projections.clickhouse import connect

pytestmark = pytest.mark.integration


def records(seed: int, topic: str = "conversation.events") -> list[Record]:
    return [
        Record(topic, seed % 3, offset, plain(event))
        for offset, event in enumerate(example_events(seed))
    ]


def test_projector_contract_through_http(analytics: Analytics) -> None:
    ch = analytics.service()
    proj = chproj.ClickHouseProjector(ch, name="http-contract", suffix="_httpc")
    proj.ensure_tables(fresh=True)  # drop_objects + apply_ddl, over HTTP
    batch = records(11) + records(12)
    positions = {("conversation.events", 2): 23, ("conversation.events", 0): 23}
    assert proj.apply(batch, positions) == len(batch)
    assert proj.apply(batch[:5], positions) == 5  # redelivery: collapsed by FINAL
    assert proj.positions() == positions
    hashes = proj.row_hashes()
    assert set(hashes) == {r.event["event_id"] for r in batch}
    one = batch[3].event
    got = ch.query(
        "SELECT payload, ts_us, seq FROM events_httpc FINAL WHERE event_id = {id:String}",
        {"id": one["event_id"]},
    )
    assert got == [
        {
            "payload": json.dumps(one["payload"], separators=(",", ":"), ensure_ascii=False),
            "ts_us": one["ts"],
            "seq": one["seq"],
        }
    ]
    usage = [r for r in batch if r.event["type"] == "UsageWindowClosed"]
    totals = proj.usage_totals()
    assert sum(t["tokens"] for t in totals) == sum(r.event["payload"]["tokens"] for r in usage)
    ch.execute("DROP TABLE IF EXISTS usage_minute_mv_httpc")
    ch.close()


def test_values_round_trip(analytics: Analytics) -> None:
    ch = analytics.service()
    table = f"vals_{uuid.uuid4().hex[:8]}"
    ch.execute(
        f"CREATE TABLE {table} (k String, big Int64, u UInt64, n Nullable(String), "
        "arr Array(Int64)) ENGINE = MergeTree ORDER BY k"
    )
    try:
        tricky = "tab\t nl\n quote' back\\ ünï 🙂"
        assert (
            ch.insert_json_rows(
                table,
                [{"k": tricky, "big": -(2**62), "u": 2**63 + 5, "n": None, "arr": [2**60, -1]}],
            )
            == 1
        )
        assert (
            ch.insert_columns(table, ["k", "big", "u", "n", "arr"], [["b"], [1], [2], ["x"], [[]]])
            == 1
        )
        got = ch.query(f"SELECT * FROM {table} WHERE k = {{k:String}}", {"k": tricky})
        assert got == [
            {"k": tricky, "big": -(2**62), "u": 2**63 + 5, "n": None, "arr": [2**60, -1]}
        ]
        assert ch.query(
            f"SELECT count() AS c FROM {table} WHERE k IN {{ks:Array(String)}}",
            {"ks": [tricky, "b", "zz"]},
        ) == [{"c": 2}]
        assert ch.query(f"SELECT k FROM {table} WHERE 0") == []
    finally:
        ch.execute(f"DROP TABLE {table}")
        ch.close()


def test_avro_body_insert(analytics: Analytics) -> None:
    ch = analytics.service()
    table = f"avro_{uuid.uuid4().hex[:8]}"
    ch.execute(
        f"CREATE TABLE {table} (event_id String, tenant String, seq Int64) "
        "ENGINE = MergeTree ORDER BY event_id"
    )
    schema = {
        "type": "record",
        "name": "E",
        "fields": [
            {"name": "event_id", "type": "string"},
            {"name": "tenant", "type": "string"},
            {"name": "seq", "type": "long"},
        ],
    }
    rows = [{"event_id": f"e{i}", "tenant": "t", "seq": i} for i in range(1000)]
    buf = io.BytesIO()
    fastavro.writer(buf, schema, rows)
    try:
        sql = (
            f"INSERT INTO {table} SELECT event_id, upper(tenant), seq * 2 "
            "FROM input('event_id String, tenant String, seq Int64') FORMAT Avro"
        )
        assert ch.insert_body(sql, buf.getvalue()) == 1000
        got = ch.query(f"SELECT count() AS c, sum(seq) AS s, any(tenant) AS t FROM {table}")
        assert got == [{"c": 1000, "s": 2 * sum(range(1000)), "t": "T"}]
    finally:
        ch.execute(f"DROP TABLE {table}")
        ch.close()


def test_errors(analytics: Analytics) -> None:
    ch = analytics.service()
    with pytest.raises(ClickHouseError) as raised:
        ch.query("SELECT * FROM no_such_table")
    assert (raised.value.code, raised.value.name, raised.value.status) == (60, "UNKNOWN_TABLE", 404)
    with pytest.raises(ClickHouseError) as auth:
        analytics.client("service", "wrong").version()
    assert (auth.value.code, auth.value.name, auth.value.status) == (
        516,
        "AUTHENTICATION_FAILED",
        403,
    )
    with pytest.raises(AnalyticsError, match="unreachable"):
        HttpClickHouse("http://127.0.0.1:9/").version()
    ch.close()


def test_settings_helpers(analytics: Analytics, data: TenantData) -> None:
    child: Settings = analytics.settings
    service = analytics_client(child)
    assert service.version() and service.database == child.clickhouse_database
    operator = analytics_client(child, role="operator")
    assert (
        operator.query("SELECT count() AS c FROM events")[0]["c"] >= data.a_events + data.b_events
    )
    with pytest.raises(ClickHouseError) as raised:
        operator.execute("TRUNCATE TABLE events")
    assert raised.value.name == "READONLY"
    scoped = analytics_client(child, tenant=data.b)
    assert scoped.query("SELECT DISTINCT tenant FROM events") == [{"tenant": data.b}]
    limited = analytics_client(
        child, tenant=data.b, settings_per_query={"max_result_rows": "2", "max_execution_time": "5"}
    )
    assert len(limited.query("SELECT event_id FROM events LIMIT 2")) == 2
    with pytest.raises(ClickHouseError) as too_many:
        limited.query("SELECT event_id FROM events")
    assert too_many.value.name == "TOO_MANY_ROWS_OR_BYTES"
    limited.close()
    url = f"http://service:{analytics.service_key}@127.0.0.1:{child.clickhouse_http_port}/somagent"
    by_url = child.model_copy(update={"clickhouse_url": url})
    direct = connect(by_url)
    assert isinstance(direct, HttpClickHouse) and direct.query("SELECT 1 AS x") == [{"x": 1}]
    with pytest.raises(AnalyticsError, match="analytics service"):
        analytics_client(by_url, tenant=data.a)
    for client in (service, operator, scoped, direct):
        client.close()


def test_concurrent_clients(analytics: Analytics, data: TenantData) -> None:
    """Tenants, the operator and a writer at once: every answer is the caller's own."""
    table = f"conc_{uuid.uuid4().hex[:8]}"
    writer = analytics.service()
    writer.execute(f"CREATE TABLE {table} (w Int64, i Int64) ENGINE = MergeTree ORDER BY i")
    failures: list[str] = []

    def tenant_reader(tenant: str, expected: int) -> None:
        ch = analytics.service(tenant=tenant)
        for _ in range(25):
            got = ch.query("SELECT tenant, count() AS c FROM events GROUP BY tenant")
            if got != [{"tenant": tenant, "c": expected}]:
                failures.append(f"{tenant}: {got}")
        ch.close()

    def inserter(w: int) -> None:
        ch = analytics.service()
        for i in range(25):
            ch.insert_columns(table, ["w", "i"], [[w] * 100, list(range(i * 100, i * 100 + 100))])
        ch.close()

    threads = [
        threading.Thread(target=tenant_reader, args=(data.a, data.a_events)) for _ in range(3)
    ]
    threads += [
        threading.Thread(target=tenant_reader, args=(data.b, data.b_events)) for _ in range(3)
    ]
    threads += [threading.Thread(target=inserter, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures[:5]
    assert writer.query(f"SELECT count() AS c FROM {table}") == [{"c": 3 * 25 * 100}]
    writer.execute(f"DROP TABLE {table}")
    writer.close()
