"""Tenancy enforced by the engine: tenants see only their rows; only the service writes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from analytics_helpers import Analytics, TenantData
from analytics_injections import INJECTIONS, WRITES

pytestmark = pytest.mark.integration

ERROR_BODY = re.compile(
    r"^Code: (\d+)\. DB::Exception: .+ \(([A-Z_]+)\) \(version [\d.]+\)\n$", re.S
)
PWNED = (Path("/tmp/somagent-pwn.txt"), Path("/tmp/somagent-pwn.csv"), Path("/tmp/somagent-backup"))


def _client(analytics: Analytics, user: str, key: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=analytics.url, auth=(user, key), headers=headers, timeout=60)


@pytest.fixture(scope="module")
def clients(analytics: Analytics, data: TenantData) -> Iterator[dict[str, httpx.Client]]:
    made = {
        "tenant-a": _client(analytics, data.a, data.a_key),
        "service-as-a": _client(
            analytics, "service", analytics.service_key, **{"X-SomaGent-Tenant": data.a}
        ),
        "tenant-b": _client(analytics, data.b, data.b_key),
        "operator": _client(analytics, "operator", analytics.operator_key),
        "service": _client(analytics, "service", analytics.service_key),
    }
    yield made
    for client in made.values():
        client.close()


def rows(client: httpx.Client, sql: str) -> list[str]:
    response = client.post("/", content=sql)
    assert response.status_code == 200, response.text
    return response.text.splitlines()


def refused(response: httpx.Response) -> tuple[int, str]:
    """The (code, name) of a ClickHouse-shaped error response."""
    assert response.status_code != 200, response.text
    m = ERROR_BODY.match(response.text)
    assert m is not None, response.text
    assert response.headers["x-clickhouse-exception-code"] == m.group(1)
    return int(m.group(1)), m.group(2)


def test_each_tenant_sees_only_its_rows(clients: dict[str, httpx.Client], data: TenantData) -> None:
    sql = "SELECT DISTINCT tenant FROM events"
    assert rows(clients["tenant-a"], sql) == [data.a]
    assert rows(clients["service-as-a"], sql) == [data.a]
    assert rows(clients["tenant-b"], sql) == [data.b]
    a_ids = set(rows(clients["tenant-a"], "SELECT event_id FROM events"))
    assert a_ids == {"a-0", "a-1", "a-2", "a-usage"}
    assert rows(clients["tenant-a"], "SELECT count() FROM events") == [str(data.a_events)]
    assert rows(clients["tenant-b"], "SELECT count() FROM events") == [str(data.b_events)]
    usage = "SELECT tenant, agent, tokens FROM usage_by_minute"
    assert rows(clients["tenant-a"], usage) == [f"{data.a}\tagent-a\t7"]
    assert rows(clients["tenant-b"], usage) == [f"{data.b}\tb-secret\t900"]


@pytest.mark.parametrize(("name", "sql", "params"), INJECTIONS, ids=[n for n, _, _ in INJECTIONS])
def test_injection_fails_or_shows_only_own_rows(
    name: str, sql: str, params: dict[str, str], clients: dict[str, httpx.Client], data: TenantData
) -> None:
    markers = data.markers
    sql = sql.replace("{B}", data.b).replace("{FILE}", data.secret_file)
    params = {k: v.replace("{B}", data.b) for k, v in params.items()}
    for who in ("tenant-a", "service-as-a"):
        response = clients[who].post("/", params=params, content=sql.encode("utf-8"))
        leaked = [m for m in markers if m in response.text]  # in rows or in an error message
        assert not leaked, f"{name} as {who} leaked {leaked}: {response.text[:500]}"
        if response.status_code != 200:
            refused(response)
    assert not any(p.exists() for p in PWNED)


def test_the_with_shadowing_attack_returns_own_rows(
    clients: dict[str, httpx.Client], data: TenantData
) -> None:
    sql = (
        "SELECT b.tenant, b.agent FROM (WITH usage_minute AS (SELECT 1 AS x) "
        "SELECT * FROM usage_minute) AS a, usage_minute AS b"
    )
    assert rows(clients["tenant-a"], sql) == [f"{data.a}\tagent-a"]
    assert rows(clients["tenant-a"], "SELECT event_id FROM events WHERE tenant != ''") != []
    assert rows(clients["tenant-a"], f"SELECT event_id FROM events WHERE tenant = '{data.b}'") == []


def test_operator_sees_every_tenant_and_nothing_else_changes(
    clients: dict[str, httpx.Client], data: TenantData
) -> None:
    op = clients["operator"]
    per_tenant = dict(
        line.split("\t")
        for line in rows(
            op,
            f"SELECT tenant, count() FROM events WHERE tenant IN "
            f"('{data.a}', '{data.b}') GROUP BY tenant",
        )
    )
    assert per_tenant == {data.a: str(data.a_events), data.b: str(data.b_events)}
    assert rows(op, "SELECT projector FROM projector_positions WHERE projector = 'secret-proj'")
    assert rows(op, "SELECT count() > 0 FROM system.tables WHERE database = 'somagent'") == ["1"]
    assert refused(op.post("/", content=f"SELECT file('{data.secret_file}')"))[0] == 497
    assert refused(op.post("/", content="SELECT * FROM merge('somagent', '^events$')"))[0] == 497


def _snapshot(service: httpx.Client) -> list[str]:
    counts = [
        rows(service, f"SELECT count() FROM {t}")[0]
        for t in ("events", "usage_minute", "projector_positions")
    ]
    tables = rows(
        service,
        "SELECT database, name, engine, create_table_query FROM system.tables "
        "WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') "
        "ORDER BY database, name",
    )
    return counts + tables + rows(service, "SELECT name FROM system.databases ORDER BY name")


def test_writes_ddl_and_control_are_refused_and_change_nothing(
    clients: dict[str, httpx.Client],
) -> None:
    before = _snapshot(clients["service"])
    for who in ("tenant-a", "service-as-a", "operator"):
        for sql in WRITES:
            code, _ = refused(clients[who].post("/", content=sql))
            assert code in (164, 497, 358), f"{who}: {sql}: {code}"
    assert _snapshot(clients["service"]) == before
    assert not any(p.exists() for p in PWNED)


def test_wrong_missing_or_disabled_credentials(analytics: Analytics, data: TenantData) -> None:
    attempts = [
        ("service", "wrong"),
        ("operator", analytics.service_key),
        ("service", analytics.operator_key),
        (data.a, data.b_key),
        (data.a, "sk_" + "x" * 43),
        ("00000000-0000-4000-8000-000000000000", data.a_key),
        (data.disabled, data.disabled_key),
        ("default", ""),
        (data.a, ""),
    ]
    for user, key in attempts:
        with _client(analytics, user, key) as client:
            response = client.post("/", content="SELECT 1")
            assert response.status_code == 403, (user, response.text)
            assert refused(response) == (516, "AUTHENTICATION_FAILED")
    anonymous = httpx.post(analytics.url, content="SELECT 1")
    assert anonymous.status_code == 403 and refused(anonymous) == (516, "AUTHENTICATION_FAILED")
    by_url = httpx.post(
        analytics.url,
        params={"user": data.a, "password": data.a_key},
        content="SELECT count() FROM events",
    )
    assert by_url.text == f"{data.a_events}\n"
    by_headers = httpx.post(
        analytics.url,
        headers={"X-ClickHouse-User": data.b, "X-ClickHouse-Key": data.b_key},
        content="SELECT count() FROM events",
    )
    assert by_headers.text == f"{data.b_events}\n"


def test_acting_for_a_tenant_is_the_service_s_alone(analytics: Analytics, data: TenantData) -> None:
    with _client(analytics, data.a, data.a_key, **{"X-SomaGent-Tenant": data.b}) as client:
        assert refused(client.post("/", content="SELECT 1")) == (497, "ACCESS_DENIED")
    op = _client(analytics, "operator", analytics.operator_key, **{"X-SomaGent-Tenant": data.a})
    with op:
        assert refused(op.post("/", content="SELECT 1")) == (497, "ACCESS_DENIED")
    svc = _client(analytics, "service", analytics.service_key, **{"X-SomaGent-Tenant": "nope"})
    with svc:
        assert refused(svc.post("/", content="SELECT 1")) == (36, "BAD_ARGUMENTS")


def test_tenant_settings(clients: dict[str, httpx.Client]) -> None:
    a = clients["tenant-a"]
    quoted = a.post(
        "/?output_format_json_quote_64bit_integers=1&default_format=JSONEachRow",
        content="SELECT toInt64(1) AS n",
    )
    assert quoted.text == '{"n":"1"}\n'
    assert a.post("/?max_execution_time=5", content="SELECT 1").text == "1\n"
    assert refused(a.post("/?max_threads=1", content="SELECT 1")) == (164, "READONLY")
    assert refused(a.post("/?max_execution_time=100000", content="SELECT 1"))[0] == 452
