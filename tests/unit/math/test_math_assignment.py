"""Capacity-aware assignment against brute force.

The reference enumerates every map tasks → instances (n_instances ** n_tasks
of them), keeps those within capacity and avoiding forbidden (+inf) pairs, and
takes the least total cost. It shares no code with the implementation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.math.assignment import assign


def brute_force(costs: np.ndarray, caps: np.ndarray) -> float | None:
    n_tasks, n_inst = costs.shape
    best: float | None = None
    for choice in itertools.product(range(n_inst), repeat=n_tasks):
        if any(choice.count(i) > caps[i] for i in range(n_inst)):
            continue
        total = sum(float(costs[t, i]) for t, i in enumerate(choice))
        if total != float("inf") and (best is None or total < best):
            best = total
    return best


@st.composite
def small_problem(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n_tasks = draw(st.integers(0, 6))
    n_inst = draw(st.integers(1, 4))
    cells = st.one_of(st.integers(-20, 100).map(float), st.just(float("inf")))
    costs = np.array(
        [[draw(cells) for _ in range(n_inst)] for _ in range(n_tasks)], dtype=np.float64
    ).reshape(n_tasks, n_inst)
    caps = np.array([draw(st.integers(0, 4)) for _ in range(n_inst)], dtype=np.int64)
    return costs, caps


@given(problem=small_problem(), method=st.sampled_from(["slots", "milp", "auto"]))
@settings(max_examples=200, deadline=None)
def test_optimal_against_brute_force(problem: tuple[np.ndarray, np.ndarray], method: str) -> None:
    costs, caps = problem
    best = brute_force(costs, caps)
    if best is None:
        with pytest.raises(ValueError, match="infeasible"):
            assign(costs, caps, method=method)  # type: ignore[arg-type]
        return
    result = assign(costs, caps, method=method)  # type: ignore[arg-type]
    assert result.total_cost == pytest.approx(best, abs=1e-9)
    assert np.all(result.loads <= caps)
    assert int(result.loads.sum()) == costs.shape[0]
    chosen = costs[np.arange(costs.shape[0]), result.instance_of_task]
    assert np.all(np.isfinite(chosen))
    assert float(chosen.sum()) == pytest.approx(result.total_cost)


def test_slot_expansion_and_milp_agree_on_medium_problems() -> None:
    rng = np.random.default_rng(5)
    for _ in range(3):
        costs = rng.uniform(0.0, 50.0, size=(60, 7))
        caps = rng.integers(5, 15, size=7)
        caps[0] += max(0, 60 - int(caps.sum()))
        slots = assign(costs, caps, method="slots")
        lp = assign(costs, caps, method="milp")
        assert slots.total_cost == pytest.approx(lp.total_cost, rel=1e-9)


def test_capacity_binds_worked_example() -> None:
    # Both tasks prefer instance 0, which takes only one: the cheaper detour wins.
    costs = np.array([[1.0, 10.0], [2.0, 4.0]])
    result = assign(costs, [1, 5])
    assert result.instance_of_task.tolist() == [0, 1]
    assert result.total_cost == 5.0
    assert result.loads.tolist() == [1, 1]
    assert result.to_dict() == {"instance_of_task": [0, 1], "loads": [1, 1], "total_cost": 5.0}


def test_no_tasks() -> None:
    result = assign(np.zeros((0, 3)), [0, 0, 0])
    assert result.total_cost == 0.0 and result.loads.tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    ("costs", "caps", "message"),
    [
        (np.ones((3, 2)), [1, 1], "total capacity 2 < 3"),
        (np.array([[np.inf, np.inf], [1.0, 1.0]]), [2, 2], "task 0"),
        (np.array([[1.0, np.inf], [1.0, np.inf]]), [1, 5], "infeasible"),
        (np.ones(3), [3], "shape"),
        (np.ones((2, 2)), [2], "capacities must have shape"),
        (np.array([[np.nan, 1.0]]), [1, 1], "NaN"),
        (np.array([[-np.inf, 1.0]]), [1, 1], "-inf"),
        (np.ones((1, 2)), [1, -1], ">= 0"),
        (np.ones((1, 2)), [1.5, 1], "whole"),
        (np.ones((2, 0)), [], "no instances"),
    ],
)
def test_invalid_and_infeasible_input_raises(
    costs: np.ndarray, caps: list[float], message: str
) -> None:
    for method in ("slots", "milp"):
        with pytest.raises(ValueError, match=message):
            assign(costs, caps, method=method)  # type: ignore[arg-type]


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="method"):
        assign(np.ones((1, 1)), [1], method="greedy")  # type: ignore[arg-type]
