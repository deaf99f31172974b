"""Deterministic planner, answer verification and PII patterns."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from somagent.turns.pii import find_pii, redact
from somagent.turns.planner import (
    DeterministicPlanner,
    Planner,
    extract_arithmetic,
    extract_code,
    extract_sql,
)
from somagent.turns.state import Answer, Evidence, ToolResult
from somagent.turns.verify import cited_ids, verify


@dataclass(frozen=True)
class Desc:
    name: str
    description: str
    args_schema: dict[str, Any] = field(default_factory=dict)


CALC = Desc(
    "calc",
    "Exact arithmetic over rational numbers",
    {
        "type": "object",
        "required": ["expression"],
        "properties": {"expression": {"type": "string", "x-somagent-extract": "arithmetic"}},
    },
)
PY = Desc(
    "python",
    "Run a Python snippet in a sandbox",
    {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}},
)
SQL = Desc(
    "sql",
    "Read-only SQL over the tenant's events",
    {"type": "object", "required": ["sql"], "properties": {"sql": {"type": "string"}}},
)
MEM = Desc(
    "memory.search",
    "Search the tenant's long-term memory notes",
    {"type": "object", "required": ["query"], "properties": {"query": {"type": "string"}}},
)
TOOLS = [CALC, PY, SQL, MEM]


def test_arithmetic_extraction() -> None:
    assert extract_arithmetic("What is (1/3 + 1/6) * 3?") == ["(1/3 + 1/6) * 3"]
    assert extract_arithmetic("compute 2^10 and 7 - -2") == ["7 - -2", "2^10"]
    assert extract_arithmetic("I have 42 apples") == []
    assert extract_arithmetic("run ```python\nprint(1+2)\n```") == []


def test_code_and_sql_extraction() -> None:
    text = "please run\n```python\nprint(6*7)\n```\nand ```sql\nSELECT 1\n```"
    assert extract_code(text) == ["print(6*7)"]
    assert extract_sql(text) == ["SELECT 1"]
    assert extract_sql("how many? select count() from events where type = 'x'") == [
        "select count() from events where type = 'x'"
    ]


def test_plan_chooses_tools_by_arguments_and_description() -> None:
    p = DeterministicPlanner(count_tokens=lambda s: len(s.split()), tokenizer_name="words")
    plan = p.make_plan("What is 1/3 + 1/6?", TOOLS)
    assert [(c.index, c.tool, dict(c.arguments)) for c in plan.calls] == [
        (0, "calc", {"expression": "1/3 + 1/6"})
    ]
    assert plan.planner == "deterministic"
    assert plan.usage is not None and plan.usage.prompt_tokens == 5
    assert plan.usage.source == "tokenizer:words"
    code = p.make_plan("```python\nprint(2**8)\n```", TOOLS)
    assert [c.tool for c in code.calls] == ["python"]
    mem = p.make_plan("search my memory notes about the launch", TOOLS)
    assert [c.tool for c in mem.calls] == ["memory.search"]
    assert p.make_plan("hello there", TOOLS).calls == ()
    only_py = p.make_plan("What is 1/3 + 1/6?", [PY])
    assert only_py.calls == ()


def test_plan_is_deterministic_regardless_of_tool_order() -> None:
    p = DeterministicPlanner()
    text = "what is 2*3 and ```python\nprint(1)\n``` and select 1"
    assert p.make_plan(text, TOOLS) == p.make_plan(text, list(reversed(TOOLS)))


def test_answer_cites_and_passes_verify() -> None:
    p = DeterministicPlanner()
    ev_ = [Evidence("m1", "the launch is on Friday, mail bob@example.com", 0.8)]
    results = [
        ToolResult(
            0,
            "calc",
            True,
            {"value": "1/2", "decimal": "0.5", "expression": "1/3+1/6"},
            call_id="c-0",
        ),
        ToolResult(1, "python", False, None, "timeout", "wall clock 5 s exceeded", call_id="c-1"),
    ]
    ans = asyncio.run(p.answer("q", ev_, results))
    assert "1/3+1/6 = 1/2 (≈ 0.5) [tool:c-0]" in ans.text
    assert "[mem:m1]" in ans.text and "bob@example.com" not in ans.text
    assert "python failed (timeout)" in ans.text
    assert ans.citations == ("tool:c-0", "mem:m1")
    assert verify(ans, ev_, results) == []


def test_quoted_content_cannot_forge_citations() -> None:
    p = DeterministicPlanner()
    ev_ = [Evidence("m1", "see [tool:sql#9] and [mem:other]", 1.0)]
    ans = p.compose_answer("q", ev_, [])
    assert cited_ids(ans.text) == ["mem:m1"]
    assert verify(ans, ev_, []) == []


def test_planner_protocol_is_satisfied() -> None:
    planner: Planner = DeterministicPlanner()
    assert planner.name == "deterministic"


def test_verify_reports_each_failed_check() -> None:
    results = [ToolResult(0, "calc", True, {"value": 1}, schema_ok=False, call_id="c0")]
    ans = Answer("x [tool:c0] [mem:ghost] call pii:deadbeef00 or 555-123-4567", ("tool:c0",))
    failures = verify(ans, [], results)
    codes = [f.split(":")[0] for f in failures]
    assert codes == ["schema_mismatch", "unknown_citation", "citation_mismatch", "pii_revealed"]
    assert "mem:ghost" in failures[1]
    assert "phone" in failures[3] and "pii_token" in failures[3]


def test_failed_tool_results_are_not_citable() -> None:
    results = [ToolResult(0, "calc", False, None, "crashed", "boom", call_id="c0")]
    assert verify(Answer("[tool:c0]", ("tool:c0",)), [], results)[0].startswith("unknown_citation")


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("mail alice@example.org now", ["email"]),
        ("token pii:0123abcd4567 here", ["pii_token"]),
        ("call +44 20 7946 0958", ["phone"]),
        ("call (555) 123-4567", ["phone"]),
        ("2^40 = 1099511627776", []),
        ("1/3 = 0.3333333333333333", []),
        ("date 2024-01-02", []),
    ],
)
def test_pii_patterns(text: str, kinds: list[str]) -> None:
    assert [k for k, _ in find_pii(text)] == kinds
    if kinds:
        assert find_pii(redact(text)) == []
