"""The sql tool's own (pure) parts: sanity limits and how engine errors read.

Isolation is the analytics service's; the tool against the real service with two
tenants' data and the injection corpus is tests/integration/tools/test_tools_sql.py.
"""

from __future__ import annotations

import pytest

from somagent.analytics.exceptions import AnalyticsError, ClickHouseError
from somagent.tools.exceptions import ToolExecutionError
from somagent.tools.sql_tool import engine_failure, one_statement, tenant_query_settings


def test_the_sql_travels_unchanged_but_for_trailing_semicolons() -> None:
    sql = "WITH e AS (SELECT * FROM events) SELECT count() FROM e -- no; parsing here"
    assert one_statement(sql) == sql
    assert one_statement("  SELECT 1 ; ;\n") == "SELECT 1"
    assert one_statement("SELECT 1; DROP TABLE events") == "SELECT 1; DROP TABLE events"


@pytest.mark.parametrize("sql", ["", "   ", ";", " ; ;\n"])
def test_an_empty_statement_is_the_callers_failure(sql: str) -> None:
    with pytest.raises(ToolExecutionError) as info:
        one_statement(sql)
    assert info.value.code == "rejected" and not info.value.infrastructure


def test_limits_are_clickhouse_settings() -> None:
    assert tenant_query_settings(1000, 15.0) == {
        "max_result_rows": "1001",
        "max_result_bytes": str(8 * 1024 * 1024),
        "result_overflow_mode": "break",
        "max_execution_time": "13",
        "final": "1",
    }
    assert tenant_query_settings(5, 0.4)["max_execution_time"] == "1"
    assert tenant_query_settings(5, 4.0)["max_execution_time"] == "2"


@pytest.mark.parametrize(
    ("error", "code", "infrastructure"),
    [
        (ClickHouseError(62, "SYNTAX_ERROR", "Syntax error", 400), "query-failed", False),
        (ClickHouseError(47, "UNKNOWN_IDENTIFIER", "Missing columns: nope", 404),
         "query-failed", False),
        (ClickHouseError(386, "NO_COMMON_TYPE", "There is no supertype", 500),
         "query-failed", False),
        (ClickHouseError(497, "ACCESS_DENIED", "table function merge is not allowed", 403),
         "rejected", False),
        (ClickHouseError(164, "READONLY", "Cannot execute query in readonly mode", 500),
         "rejected", False),
        (ClickHouseError(159, "TIMEOUT_EXCEEDED", "Timeout exceeded", 408), "timeout", False),
        (ClickHouseError(1001, "STD_EXCEPTION", "unexpected", 500), "unavailable", True),
        (ClickHouseError(279, "ALL_CONNECTION_TRIES_FAILED", "postgres down", 500),
         "unavailable", True),
        (ClickHouseError(76, "CANNOT_OPEN_FILE", "x", 503), "unavailable", True),
        (AnalyticsError("ClickHouse at http://127.0.0.1:1/ is unreachable"), "unavailable", True),
        (ValueError("Expecting value: line 1 column 1"), "rejected", False),
    ],
)
def test_engine_errors_become_clear_tool_failures(
    error: Exception, code: str, infrastructure: bool
) -> None:
    failure = engine_failure("tenant-a", error)
    assert (failure.code, failure.infrastructure) == (code, infrastructure)
    assert "tenant-a" in failure.message
    if isinstance(error, ClickHouseError):
        assert f"{error.code} {error.name}" in failure.message
