"""Instance scheduling, checked against brute force over all placements."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.tools.calc import SPEC as CALC
from somagent.tools.scheduler import (
    InstanceState,
    SchedulingError,
    Weights,
    instances_for,
    schedule,
)
from somagent.turns.state import ToolCall


def test_prefers_fast_reliable_cheap_instances_within_capacity() -> None:
    insts = [
        InstanceState("calc#0", "calc", capacity=1, latency_ms=10),
        InstanceState("calc#1", "calc", capacity=2, latency_ms=50),
        InstanceState("calc#2", "calc", capacity=5, latency_ms=5, error_rate=0.5),
        InstanceState("python#0", "python", capacity=1, latency_ms=100, cost_cents=1),
    ]
    calls = [
        ToolCall(0, "calc", {}),
        ToolCall(1, "python", {}),
        ToolCall(2, "calc", {}),
        ToolCall(3, "calc", {}),
    ]
    s = schedule(calls, insts)
    assert s.assigned == {0: "calc#0", 1: "python#0", 2: "calc#1", 3: "calc#1"}
    assert s.deferred == ()
    assert s.total_cost == pytest.approx(10 + 200 + 50 + 50)


def test_defers_calls_beyond_capacity_and_rejects_unknown_tools() -> None:
    insts = instances_for(CALC)
    calls = [ToolCall(i, "calc", {}) for i in range(3)]
    s = schedule(calls, insts)
    assert s.assigned == {0: "calc#0"} and s.deferred == (1, 2)
    with pytest.raises(SchedulingError, match="'sql'"):
        schedule([ToolCall(0, "sql", {})], insts)


inst_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.integers(0, 2),
        st.integers(0, 100),
        st.floats(0, 1),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(inst_strategy, st.lists(st.sampled_from(["a", "b"]), max_size=4))
def test_optimal_against_brute_force(
    raw: list[tuple[str, int, int, float, int]], tools: list[str]
) -> None:
    insts = [
        InstanceState(f"i{k}", t, cap, lat, err, cost)
        for k, (t, cap, lat, err, cost) in enumerate(raw)
    ]
    known = {i.tool for i in insts}
    calls = [ToolCall(k, t, {}) for k, t in enumerate(tools) if t in known]
    calls = [ToolCall(k, c.tool, {}) for k, c in enumerate(calls)]
    s = schedule(calls, insts)
    w = Weights()
    runnable = [c for c in calls if c.index not in s.deferred]
    best = math.inf
    for choice in itertools.product(range(len(insts)), repeat=len(runnable)):
        load = [0] * len(insts)
        total = 0.0
        for call, i in zip(runnable, choice, strict=True):
            if insts[i].tool != call.tool:
                break
            load[i] += 1
            total += (
                w.latency * insts[i].latency_ms
                + w.risk * insts[i].error_rate
                + (w.budget * insts[i].cost_cents)
            )
        else:
            if all(load[i] <= insts[i].capacity for i in range(len(insts))):
                best = min(best, total)
    assert s.total_cost == pytest.approx(best if runnable else 0.0)
    by_id = {i.instance_id: i for i in insts}
    for index, inst_id in s.assigned.items():
        assert by_id[inst_id].tool == calls[index].tool
