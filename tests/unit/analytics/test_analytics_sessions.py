"""Session specs: who may send which settings; how a connection is configured."""

from __future__ import annotations

import pytest

from somagent.analytics.exceptions import ClickHouseError
from somagent.analytics.principals import Principal, canonical_tenant
from somagent.analytics.request import HttpQuery
from somagent.analytics.sessions import (
    TENANT_MAX_EXECUTION_TIME_S,
    SessionSpec,
    session_spec,
    setup_statements,
    tenant_filters,
)

TENANT = "6f1c6f36-6a8f-4d7e-9f37-0d9c0f0b8a11"
SERVICE = Principal("service", "service")
OPERATOR = Principal("operator", "operator")
ANALYST = Principal("tenant", TENANT, TENANT)


def q(method: str = "POST", **settings: str) -> HttpQuery:
    return HttpQuery(method=method, settings=dict(settings))


def refusal(principal: Principal, query: HttpQuery) -> str:
    with pytest.raises(ClickHouseError) as raised:
        session_spec(principal, query, "somagent")
    return raised.value.name


def test_service_sends_any_setting_and_get_is_readonly() -> None:
    spec = session_spec(
        SERVICE, q(max_threads="2", date_time_input_format="best_effort"), "somagent"
    )
    assert spec == SessionSpec(
        "somagent", (("date_time_input_format", "best_effort"), ("max_threads", "2"))
    )
    assert session_spec(SERVICE, q("GET"), "somagent").readonly == 2
    assert session_spec(SERVICE, q(readonly="1"), "somagent").readonly == 1
    assert refusal(SERVICE, q(**{"bad name": "1"})) == "UNKNOWN_SETTING"


def test_readonly_principals_send_harmless_settings_only() -> None:
    spec = session_spec(
        ANALYST, q(output_format_json_quote_64bit_integers="1", readonly="1"), "somagent"
    )
    assert spec.readonly == 1 and spec.tenant == TENANT
    assert spec.settings == (("output_format_json_quote_64bit_integers", "1"),)
    for name, value in (
        ("max_threads", "1"),
        ("readonly", "0"),
        ("additional_table_filters", "{}"),
    ):
        assert refusal(ANALYST, q(**{name: value})) == "READONLY"
        assert refusal(OPERATOR, q(**{name: value})) == "READONLY"
    too_long = q(max_execution_time=str(TENANT_MAX_EXECUTION_TIME_S + 1))
    assert refusal(ANALYST, too_long) == "SETTING_CONSTRAINT_VIOLATION"
    assert session_spec(OPERATOR, too_long, "somagent").readonly == 1
    other_db = HttpQuery(method="POST", database="system")
    assert refusal(ANALYST, other_db) == "ACCESS_DENIED"
    assert session_spec(OPERATOR, other_db, "somagent").database == "system"


def test_setup_statements_end_with_readonly() -> None:
    spec = SessionSpec("somagent", (("max_result_rows", "10"),), TENANT, 1)
    tables = frozenset({"somagent.events", "somagent.usage_minute"})
    statements = setup_statements(spec, tables)
    assert statements[0] == "USE `somagent`"
    assert statements[1] == "SET max_result_rows = '10'"
    assert statements[2] == f"SET additional_table_filters = {tenant_filters(TENANT, tables)}"
    assert statements[3] == f"SET max_execution_time = {TENANT_MAX_EXECUTION_TIME_S}"
    assert statements[-1] == "SET readonly = 1"
    assert tenant_filters(TENANT, frozenset({"somagent.events"})) == (
        "{'somagent.events': 'tenant = \\'" + TENANT + "\\''}"
    )
    assert setup_statements(SessionSpec("somagent"), tables) == ["USE `somagent`"]


def test_principals() -> None:
    assert canonical_tenant(TENANT.upper()) == TENANT
    assert canonical_tenant("service") is None and canonical_tenant("' OR 1") is None
    assert ANALYST.readonly and OPERATOR.readonly and not SERVICE.readonly
    assert Principal("tenant", "service", TENANT).name == f"service (tenant {TENANT})"
