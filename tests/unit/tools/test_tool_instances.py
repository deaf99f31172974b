"""The instance pool places calls by measured cost and capacity (via math.assignment)."""

from __future__ import annotations

from somagent.tools.instances import InstancePool
from somagent.tools.spec import ToolSpec
from somagent.turns.state import ToolCall

SPEC = ToolSpec(
    name="geo",
    description="geocode",
    args_schema={"type": "object"},
    result_schema={"type": "object"},
    instances=3,
)


def call(i: int) -> ToolCall:
    return ToolCall(i, "geo", {})


def test_slow_and_failing_instances_are_avoided() -> None:
    pool = InstancePool(capacity=2, alpha=1.0)
    for iid, ms, ok in (("geo#0", 400, True), ("geo#1", 20, False), ("geo#2", 30, True)):
        pool.record(pool.place(SPEC, call(0)), 0, True)  # warm the ids
        pool.record(iid, ms, ok)
    # geo#2: 30 ms, no errors beats geo#0 (400 ms) and geo#1 (errors cost 1000 ms-eq)
    assert pool.place(SPEC, call(1)) == "geo#2"


def test_capacity_spreads_concurrent_calls_then_queues_on_the_cheapest() -> None:
    pool = InstancePool(capacity=1, alpha=1.0)
    placed = [pool.place(SPEC, call(i)) for i in range(3)]
    assert sorted(placed) == ["geo#0", "geo#1", "geo#2"]
    assert pool.place(SPEC, call(3)) in {"geo#0", "geo#1", "geo#2"}
    assert pool.snapshot()["geo#0"]["in_flight"] >= 1


def test_single_instance_tools_skip_the_solver() -> None:
    spec = ToolSpec(
        name="calc",
        description="c",
        args_schema={"type": "object"},
        result_schema={"type": "object"},
    )
    assert InstancePool().place(spec, ToolCall(0, "calc", {})) == "calc#0"
