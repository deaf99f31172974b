"""What tenants and the operator may run, decided on the engine's parse and resolution."""

from __future__ import annotations

import pytest

from somagent.analytics.exceptions import ClickHouseError
from somagent.analytics.explain import AstSummary, TreeSummary
from somagent.analytics.guard import (
    Visibility,
    check_ast,
    check_functions,
    check_outfile,
    check_statement_kind,
    check_tree,
    denied_function,
)

VISIBLE = Visibility("somagent", frozenset({"somagent.events", "somagent.usage_minute"}))
EXISTING = frozenset({"somagent.events", "somagent.usage_minute", "somagent.projector_positions"})
KNOWN_TABLE_FUNCTIONS = frozenset({"numbers", "merge", "file", "remote", "url", "values"})


def refusal(call: object) -> str:
    with pytest.raises(ClickHouseError) as raised:
        call()  # type: ignore[operator]
    return raised.value.name


def select(**kw: object) -> AstSummary:
    return AstSummary(root="SelectWithUnionQuery", **kw)  # type: ignore[arg-type]


def tenant_check(ast: AstSummary) -> None:
    check_ast(ast, "t", VISIBLE, EXISTING, KNOWN_TABLE_FUNCTIONS)


def test_visible_and_system_tables() -> None:
    tenant_check(select(tables=["events", "somagent.usage_minute", "system.one", "my_cte"]))
    tenant_check(select(tables=["system.settings"], functions=["numbers"]))
    assert refusal(lambda: tenant_check(select(tables=["projector_positions"]))) == "ACCESS_DENIED"
    assert refusal(lambda: tenant_check(select(tables=["system.parts"]))) == "ACCESS_DENIED"
    assert refusal(lambda: tenant_check(select(tables=["other.events"]))) == "ACCESS_DENIED"


def test_functions_and_table_functions() -> None:
    for name in ("file", "dictget", "dicthas", "joinget", "joingetornull", "hascolumnintable"):
        assert denied_function(name, KNOWN_TABLE_FUNCTIONS)
    for name in ("merge", "remote", "url"):  # table functions outside the allow-list
        assert denied_function(name, KNOWN_TABLE_FUNCTIONS)
    for name in ("count", "numbers", "values", "tostring", "version", "timezone"):
        assert not denied_function(name, KNOWN_TABLE_FUNCTIONS)
    ast = select(functions=["merge"], table_functions=["merge"])
    assert refusal(lambda: tenant_check(ast)) == "ACCESS_DENIED"
    assert refusal(lambda: check_functions(ast, "op", KNOWN_TABLE_FUNCTIONS)) == "ACCESS_DENIED"


def test_statement_kinds() -> None:
    for root in ("SelectWithUnionQuery", "SelectIntersectExceptQuery", "DescribeQuery"):
        check_statement_kind(AstSummary(root=root), "t", tenant=True)
    for root in ("Explain", "ShowTables", "ExistsTableQuery", "InsertQuery", "SYSTEM", "Set"):
        name = refusal(lambda r=root: check_statement_kind(AstSummary(root=r), "t", tenant=True))
        assert name == "READONLY"
    for root in ("Explain", "ShowTables", "ExistsTableQuery", "DescribeQuery"):
        check_statement_kind(AstSummary(root=root), "op", tenant=False)
    for root in ("InsertQuery", "KillQueryQuery", "SYSTEM", "AlterQuery", "CreateQuery", "Set"):
        name = refusal(lambda r=root: check_statement_kind(AstSummary(root=r), "op", tenant=False))
        assert name == "READONLY"


def test_outfile_is_refused_for_everyone() -> None:
    assert refusal(lambda: check_outfile(select(into_outfile=True))) == "INTO_OUTFILE_NOT_ALLOWED"


def test_resolved_tree() -> None:
    check_tree(
        TreeSummary(["somagent.events", "system.one"], ["numbers"], ["count"]),
        "t",
        VISIBLE,
        KNOWN_TABLE_FUNCTIONS,
    )
    hidden = TreeSummary(["somagent.projector_positions"], [], [])
    assert (
        refusal(lambda: check_tree(hidden, "t", VISIBLE, KNOWN_TABLE_FUNCTIONS)) == "ACCESS_DENIED"
    )
    merged = TreeSummary([], ["merge"], [])
    assert (
        refusal(lambda: check_tree(merged, "t", VISIBLE, KNOWN_TABLE_FUNCTIONS)) == "ACCESS_DENIED"
    )
    filed = TreeSummary([], [], ["file"])
    assert (
        refusal(lambda: check_tree(filed, "t", VISIBLE, KNOWN_TABLE_FUNCTIONS)) == "ACCESS_DENIED"
    )
