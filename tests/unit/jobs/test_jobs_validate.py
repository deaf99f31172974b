"""The job spec: schema, DAG rules (cycles, unknown steps), tools, defaults."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from somagent.jobs.dag import dag_problems, descendants, find_cycles, ready
from somagent.jobs.exceptions import InvalidJobSpec
from somagent.jobs.schema import JOB_SPEC, MAX_DEPTH
from somagent.jobs.spec import DEFAULT_RETRY, ApprovalAction, ToolAction, TurnAction
from somagent.jobs.validate import check_spec

TOOLS = {"calc": {"type": "object", "required": ["expression"],
                  "properties": {"expression": {"type": "string"}}}}


def _problems(doc: Any, tools: Any = TOOLS) -> list[tuple[str, str]]:
    with pytest.raises(InvalidJobSpec) as info:
        check_spec(doc, tools)
    return [(p.pointer, p.message) for p in info.value.problems]


def test_the_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(JOB_SPEC)


def test_a_full_spec_builds_with_defaults() -> None:
    spec = check_spec({
        "name": "release",
        "budget": {"tokens": 5000},
        "steps": [
            {"name": "a", "turn": {"text": "draft", "allow": {"tools": ["calc"]}}},
            {"name": "b", "tool": {"name": "calc", "arguments": {"expression": "1+1"}},
             "depends_on": ["a"], "retry": {"max_attempts": 5},
             "compensate": {"tool": {"name": "calc", "arguments": {"expression": "0"}}}},
            {"name": "gate", "approval": {"prompt": "ok?", "timeout_s": 60},
             "depends_on": ["b"]},
            {"name": "sub", "job": {"steps": [{"name": "x", "approval": {}}]}},
        ],
    }, TOOLS)
    assert spec.name == "release" and spec.budget_tokens == 5000
    a, b, gate, sub = spec.steps
    assert a.action == TurnAction("draft", ("calc",), "none") and a.retry == DEFAULT_RETRY
    assert b.action == ToolAction("calc", {"expression": "1+1"}) and b.retry.max_attempts == 5
    assert b.compensate is not None and b.compensate.action == ToolAction("calc",
                                                                          {"expression": "0"})
    assert gate.action == ApprovalAction("ok?", 60.0, "reject") and gate.retry.max_attempts == 1
    assert sub.kind == "job" and sub.depends_on == ()


def test_a_cycle_is_refused_naming_its_steps() -> None:
    problems = _problems({"steps": [
        {"name": "a", "turn": {"text": "x"}, "depends_on": ["c"]},
        {"name": "b", "turn": {"text": "x"}, "depends_on": ["a"]},
        {"name": "c", "turn": {"text": "x"}, "depends_on": ["b"]},
        {"name": "d", "turn": {"text": "x"}},
    ]})
    assert problems == [("/steps", "steps a, b, c form a cycle: a → c → b → a "
                                    "(each depends on the next)")]


def test_a_self_dependency_is_a_cycle() -> None:
    problems = _problems({"steps": [{"name": "a", "turn": {"text": "x"}, "depends_on": ["a"]}]})
    assert problems == [("/steps", "steps a form a cycle: a → a (each depends on the next)")]


def test_unknown_steps_and_duplicates_are_named() -> None:
    problems = _problems({"steps": [
        {"name": "a", "turn": {"text": "x"}, "depends_on": ["ghost"]},
        {"name": "a", "turn": {"text": "y"}},
    ]})
    assert ("/steps/0/depends_on/0", "step 'a' depends on unknown step 'ghost'") in problems
    assert ("/steps/1/name", "step name 'a' is used twice (also /steps/0)") in problems


def test_missing_fields_and_kinds_are_listed() -> None:
    problems = _problems({"steps": [{"name": "a"}, {"turn": {"text": "x"}},
                                    {"name": "c", "turn": {}, "tool": {"name": "calc"}}]})
    pointers = dict(problems)
    assert pointers["/steps/0"].startswith("step 'a' must have exactly one of turn, tool")
    assert "'name' is a required property" in pointers["/steps/1"]
    assert "it has turn, tool" in next(m for p, m in problems if p == "/steps/2")
    assert ("/steps/2/turn", "'text' is a required property") in problems
    assert _problems({}) == [("", "'steps' is a required property")]
    assert _problems({"steps": []})[0][0] == "/steps"


def test_sub_jobs_are_checked_with_their_pointers() -> None:
    problems = _problems({"steps": [{"name": "s", "job": {"steps": [
        {"name": "x", "turn": {"text": "x"}, "depends_on": ["nope"]}]}}]})
    assert problems == [("/steps/0/job/steps/0/depends_on/0",
                         "step 'x' depends on unknown step 'nope'")]


def test_sub_jobs_nest_at_most_max_depth() -> None:
    doc: dict[str, Any] = {"steps": [{"name": "leaf", "approval": {}}]}
    for _ in range(MAX_DEPTH):
        doc = {"steps": [{"name": "s", "job": doc}]}
    check_spec(doc)
    too_deep = {"steps": [{"name": "s", "job": doc}]}
    assert any("nest" in m for _, m in _problems(too_deep))


def test_tools_must_exist_and_take_their_arguments() -> None:
    problems = _problems({"steps": [
        {"name": "a", "tool": {"name": "shell", "arguments": {}}},
        {"name": "b", "tool": {"name": "calc", "arguments": {"expr": 1}}},
        {"name": "c", "turn": {"text": "x"},
         "compensate": {"tool": {"name": "calc", "arguments": {"expression": 7}}}},
    ]})
    assert ("/steps/0/tool/name", "unknown tool 'shell'; known: calc") in problems
    assert ("/steps/1/tool/arguments", "calc: 'expression' is a required property") in problems
    assert ("/steps/2/compensate/tool/arguments/expression",
            "calc: 7 is not of type 'string'") in problems


def test_find_cycles_finds_each_component_once() -> None:
    graph = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["e"], "e": ["c"], "f": ["a"]}
    assert find_cycles(graph) == [["a", "b", "a"], ["c", "d", "e", "c"]]
    assert find_cycles({"a": [], "b": ["a"]}) == []
    assert dag_problems([{"name": "a"}, {"name": "b", "depends_on": ["a"]}]) == []


def test_ready_and_descendants_follow_the_edges() -> None:
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    order = ["a", "b", "c", "d"]
    assert ready(order, deps, set(), set()) == ["a"]
    assert ready(order, deps, {"a"}, {"a"}) == ["b", "c"]
    assert ready(order, deps, {"a", "b"}, {"a", "b", "c"}) == []
    assert ready(order, deps, {"a", "b", "c"}, {"a", "b", "c"}) == ["d"]
    assert descendants(deps, {"b"}) == {"d"}
    assert descendants(deps, {"a"}) == {"b", "c", "d"}
