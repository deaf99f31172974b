"""The official ``clickhouse-connect`` client against the analytics service."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator

import clickhouse_connect
import pytest
from analytics_helpers import Analytics, TenantData
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

pytestmark = pytest.mark.integration


def connect(analytics: Analytics, user: str, key: str) -> Client:
    port = analytics.settings.clickhouse_http_port
    return clickhouse_connect.get_client(host="127.0.0.1", port=port, username=user, password=key)


@pytest.fixture(scope="module")
def service(analytics: Analytics) -> Iterator[Client]:
    client = connect(analytics, "service", analytics.service_key)
    yield client
    client.close()


def test_query_command_and_parameters(service: Client) -> None:
    assert service.server_version.count(".") == 3
    result = service.query("SELECT number, toString(number) AS s FROM numbers(3)")
    assert result.column_names == ("number", "s")
    assert result.result_rows == [(0, "0"), (1, "1"), (2, "2")]
    assert service.command("SELECT 40 + 2") == 42
    bound = service.query(
        "SELECT {s:String} AS s, {n:Int64} AS n, {a:Array(String)} AS a",
        parameters={"s": "tab\there 'quoted' \\ back", "n": -7, "a": ["x'y", "z"]},
    )
    assert bound.result_rows == [("tab\there 'quoted' \\ back", -7, ["x'y", "z"])]
    assert service.query("SELECT 1 WHERE 0").result_rows == []


def test_insert_and_read_back(service: Client) -> None:
    table = f"cc_{uuid.uuid4().hex[:8]}"
    service.command(
        f"CREATE TABLE {table} (a UInt64, s String, d DateTime) ENGINE = MergeTree ORDER BY a"
    )
    try:
        rows = [[i, f"row-{i}", datetime.datetime(2024, 1, 1, 0, 0, i % 60)] for i in range(5000)]
        summary = service.insert(table, rows, column_names=["a", "s", "d"])
        assert summary.written_rows == 5000
        assert service.command(f"SELECT count() FROM {table}") == 5000
        first = service.query(f"SELECT * FROM {table} ORDER BY a LIMIT 2").result_rows
        assert first == [
            (0, "row-0", datetime.datetime(2024, 1, 1)),
            (1, "row-1", datetime.datetime(2024, 1, 1, 0, 0, 1)),
        ]
        frame = service.query_df(f"SELECT a, s FROM {table} ORDER BY a")
        assert len(frame) == 5000 and frame["s"].iloc[-1] == "row-4999"
        blocks = 0
        with service.query_row_block_stream(f"SELECT a FROM {table}") as stream:
            for block in stream:
                blocks += len(block)
        assert blocks == 5000
    finally:
        service.command(f"DROP TABLE {table}")


def test_errors_are_database_errors(service: Client) -> None:
    with pytest.raises(DatabaseError) as raised:
        service.query("SELECT * FROM no_such_table")
    assert "UNKNOWN_TABLE" in str(raised.value) and "Code: 60" in str(raised.value)


def test_operator_reads_and_cannot_write(analytics: Analytics, data: TenantData) -> None:
    operator = connect(analytics, "operator", analytics.operator_key)
    try:
        count = operator.command(f"SELECT count() FROM events WHERE tenant = '{data.b}'")
        assert count == data.b_events
        with pytest.raises(DatabaseError) as raised:
            operator.command("DROP TABLE events")
        assert "READONLY" in str(raised.value)
        with pytest.raises(DatabaseError):
            operator.insert("events", [["x"]], column_names=["event_id"])
    finally:
        operator.close()


def test_tenant_analyst_sees_own_rows(analytics: Analytics, data: TenantData) -> None:
    tenant = connect(analytics, data.a, data.a_key)
    try:
        tenants = tenant.query("SELECT DISTINCT tenant FROM events").result_rows
        assert tenants == [(data.a,)]
        with pytest.raises(DatabaseError) as raised:
            tenant.query("SELECT * FROM projector_positions")
        assert "ACCESS_DENIED" in str(raised.value)
    finally:
        tenant.close()
    with pytest.raises(DatabaseError) as refused:
        connect(analytics, data.a, data.b_key)
    assert "AUTHENTICATION_FAILED" in str(refused.value)
