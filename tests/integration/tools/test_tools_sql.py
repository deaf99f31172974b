"""The ``sql`` tool against the real analytics service, two tenants' data (#19 items 5, 6).

Calls go through the real broker (breaker threshold 1: any failure counted as the
tool's would open it and show up as ``circuit-open``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from integration.analytics.analytics_helpers import Analytics, TenantData
from sql_injections import ALL

from somagent.contract.ids import idem_key, tool_call_id
from somagent.stack.process import free_port
from somagent.tools.breaker import BreakerConfig, RetryPolicy
from somagent.tools.broker import ToolBroker
from somagent.tools.registry import ToolRegistry
from somagent.tools.sql_tool import analytics_connect, sql_tool
from somagent.turns.state import ToolCall, ToolResult

pytestmark = pytest.mark.integration

MAX_ROWS = 3
TIMEOUT_S = 4.0  # the engine stops a query after 2 s (limits-time), the broker waits 4 s
CALLERS_FAILURES = {"query-failed", "rejected", "timeout"}


def make_broker(analytics: Analytics, **settings: Any) -> ToolBroker:
    connect = analytics_connect(
        analytics.settings.model_copy(update=settings), MAX_ROWS, TIMEOUT_S
    )
    assert connect is not None
    return ToolBroker(
        ToolRegistry([sql_tool(connect, MAX_ROWS, TIMEOUT_S)]),
        breaker_config=BreakerConfig(failure_threshold=1, reset_timeout_ms=600_000),
        retry=RetryPolicy(max_attempts=1),
    )


@pytest.fixture(scope="module")
def broker(analytics: Analytics) -> ToolBroker:
    return make_broker(analytics)


def sql(broker: ToolBroker, tenant: str, text: str) -> ToolResult:
    turn = str(uuid.uuid4())
    call = ToolCall(0, "sql", {"sql": text}, tool_call_id(turn, 0))
    return asyncio.run(
        broker.invoke(call, tenant=tenant, idem_key=idem_key(turn, "tools", 0),
                      timeout_ms=20_000, turn_id=turn)
    )


def values(result: ToolResult, column: str) -> list[Any]:
    assert result.ok, result
    return [row[column] for row in result.output["rows"]]


def test_each_tenant_counts_its_own_rows(broker: ToolBroker, data: TenantData) -> None:
    """Issue 19 item 5: every query failed with NO_COMMON_TYPE on the embedded engine."""
    assert values(sql(broker, data.a, "SELECT count() AS n FROM events"), "n") == [data.a_events]
    assert values(sql(broker, data.b, "SELECT count() AS n FROM events"), "n") == [data.b_events]
    assert values(sql(broker, data.a, "SELECT DISTINCT tenant FROM events"), "tenant") == [data.a]
    usage = sql(broker, data.a, "SELECT agent, tokens FROM usage_by_minute")
    assert usage.output["rows"] == [{"agent": "agent-a", "tokens": 7}]


def test_the_reported_bypass_reads_only_the_callers_rows(
    broker: ToolBroker, data: TenantData
) -> None:
    attack = (
        "SELECT b.* FROM (WITH usage_minute AS (SELECT 1 AS x) SELECT * FROM usage_minute) "
        "AS a, usage_minute AS b"
    )
    result = sql(broker, data.a, attack)
    assert result.ok and {row["tenant"] for row in result.output["rows"]} == {data.a}
    assert "b-secret" not in json.dumps(result.output)


def test_rows_are_limited_and_flagged(broker: ToolBroker, data: TenantData) -> None:
    result = sql(broker, data.b, "SELECT event_id FROM events ORDER BY event_id;")
    assert result.output["row_count"] == MAX_ROWS and result.output["truncated"] is True
    result = sql(broker, data.a, "SELECT number FROM numbers(1000000)")
    assert result.output["row_count"] == MAX_ROWS and result.output["truncated"] is True


@pytest.mark.parametrize(("name", "text"), ALL, ids=[n for n, _ in ALL])
def test_injection_fails_or_shows_only_the_callers_rows(
    name: str, text: str, broker: ToolBroker, data: TenantData
) -> None:
    attempt = text.replace("{B}", data.b).replace("{FILE}", data.secret_file)
    result = sql(broker, data.a, attempt)
    shown = json.dumps(result.to_dict())
    leaked = [m for m in data.markers if m in shown and m not in attempt]
    assert not leaked, f"{name} leaked {leaked}: {shown[:500]}"
    if result.ok:
        tenants = {row.get("tenant", data.a) for row in result.output["rows"]}
        assert tenants <= {data.a}, f"{name}: rows of {tenants - {data.a}}"
    else:
        assert result.error_code in CALLERS_FAILURES, f"{name}: {result.error_code} {result.error}"
        assert result.error.startswith(f"sql for tenant {data.a}: ClickHouse error") or (
            result.error_code == "rejected"
        ), result.error
    assert broker.breakers == {}, f"{name} counted as the tool's failure: {result.error}"


def test_the_callers_bad_sql_never_opens_the_breaker(
    broker: ToolBroker, data: TenantData
) -> None:
    for _ in range(5):
        bad = sql(broker, data.a, "SELECT nope FROM events")
        assert bad.error_code == "query-failed" and "UNKNOWN_IDENTIFIER" in bad.error
    assert sql(broker, data.a, "SELECT count() AS n FROM events").ok
    assert broker.breakers == {}


def test_an_unreachable_service_is_the_tools_failure_for_that_tenant_only(
    analytics: Analytics, data: TenantData
) -> None:
    down = make_broker(analytics, clickhouse_http_port=free_port())
    first = sql(down, data.a, "SELECT 1")
    assert first.error_code == "unavailable" and "unreachable" in first.error
    assert sql(down, data.a, "SELECT 1").error_code == "circuit-open"
    assert sql(down, data.b, "SELECT 1").error_code == "unavailable"


def test_no_sql_tool_without_the_analytics_service(analytics: Analytics) -> None:
    server = analytics.settings.model_copy(update={"clickhouse_url": "http://127.0.0.1:8123/db"})
    assert analytics_connect(server) is None


def test_a_query_over_its_time_is_the_callers_timeout(
    broker: ToolBroker, data: TenantData
) -> None:
    slow = sql(broker, data.a, "SELECT count() FROM numbers_mt(100000000000)")
    assert slow.error_code == "timeout" and "TIMEOUT_EXCEEDED" in slow.error, slow
    assert broker.breakers == {}
