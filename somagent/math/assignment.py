"""Capacity-aware minimum-cost assignment of tasks to instances.

``costs[t, i]`` is the cost of running task t on instance i (the caller folds
latency, risk and budget into one number with its own weights; any unit, e.g.
milliseconds-equivalent). ``+inf`` marks a forbidden pair. ``capacities[i]`` is
how many tasks instance i may take. :func:`assign` returns an assignment of
every task to one instance that respects every capacity and has the least total
cost (exactly optimal, not a heuristic); ties are broken arbitrarily.

Method: each instance i is expanded into min(capacities[i], n_tasks) identical
slots and the rectangular assignment problem (tasks x slots) is solved with
``scipy.optimize.linear_sum_assignment`` (Jonker-Volgenant, O(n·s²) for s slots).
For expansions above ``SLOT_LIMIT`` cells the transportation LP is solved with
``scipy.optimize.milp`` (HiGHS, integrality enforced; the LP is totally
unimodular so the relaxation is already integral).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp

__all__ = ["SLOT_LIMIT", "Assignment", "assign"]

IntArray = NDArray[np.int64]
Method = Literal["auto", "slots", "milp"]

# Largest tasks x slots matrix the slot expansion may build (cells, 8 bytes each).
SLOT_LIMIT = 20_000_000


@dataclass(frozen=True, slots=True)
class Assignment:
    """An optimal assignment.

    ``instance_of_task``: int64 array (n_tasks,), the instance each task runs on.
    ``loads``: int64 array (n_instances,), tasks per instance (<= capacity).
    ``total_cost``: Σ_t costs[t, instance_of_task[t]] (finite).
    """

    instance_of_task: IntArray
    loads: IntArray
    total_cost: float

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {
            "instance_of_task": self.instance_of_task.tolist(),
            "loads": self.loads.tolist(),
            "total_cost": self.total_cost,
        }


def _validate(costs: ArrayLike, capacities: ArrayLike) -> tuple[NDArray[np.float64], IntArray]:
    c = np.asarray(costs, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"costs must have shape (n_tasks, n_instances), got {c.shape}")
    n_tasks, n_inst = c.shape
    if n_inst == 0 and n_tasks > 0:
        raise ValueError(f"no instances for {n_tasks} tasks")
    if np.any(np.isnan(c)) or np.any(c == -np.inf):
        raise ValueError("costs must not contain NaN or -inf (+inf marks a forbidden pair)")
    cap_raw = np.asarray(capacities)
    if cap_raw.shape != (n_inst,):
        raise ValueError(f"capacities must have shape ({n_inst},), got {cap_raw.shape}")
    if cap_raw.size and not np.all(np.isfinite(cap_raw.astype(np.float64))):
        raise ValueError("capacities must be finite integers")
    cap = cap_raw.astype(np.int64)
    if not np.array_equal(cap, cap_raw):
        raise ValueError("capacities must be whole numbers")
    if np.any(cap < 0):
        raise ValueError("capacities must be >= 0")
    if int(cap.sum()) < n_tasks:
        raise ValueError(f"infeasible: total capacity {int(cap.sum())} < {n_tasks} tasks")
    allowed = np.isfinite(c) & (cap > 0)[None, :]
    stuck = np.flatnonzero(~allowed.any(axis=1))
    if stuck.size:
        raise ValueError(f"infeasible: task {int(stuck[0])} has no allowed instance with capacity")
    return c, cap


def _solve_slots(c: NDArray[np.float64], cap: IntArray) -> IntArray:
    n_tasks = c.shape[0]
    slot_owner = np.repeat(np.arange(cap.size, dtype=np.int64), np.minimum(cap, n_tasks))
    expanded = c[:, slot_owner]
    try:
        rows, cols = linear_sum_assignment(expanded)
    except ValueError as exc:  # scipy reports an infeasible +inf pattern this way
        raise ValueError(
            f"infeasible: forbidden pairs and capacities admit no assignment ({exc})"
        ) from exc
    out = np.empty(n_tasks, dtype=np.int64)
    out[rows] = slot_owner[cols]
    return out


def _solve_milp(c: NDArray[np.float64], cap: IntArray) -> IntArray:
    n_tasks, n_inst = c.shape
    ok = np.isfinite(c)
    t_idx, i_idx = np.nonzero(ok)
    n_var = t_idx.size
    var = np.arange(n_var)
    each_task = sp.csr_matrix((np.ones(n_var), (t_idx, var)), shape=(n_tasks, n_var))
    per_inst = sp.csr_matrix((np.ones(n_var), (i_idx, var)), shape=(n_inst, n_var))
    constraints = [
        LinearConstraint(each_task, lb=1.0, ub=1.0),
        LinearConstraint(per_inst, lb=0.0, ub=cap.astype(np.float64)),
    ]
    res = milp(
        c[ok],
        constraints=constraints,
        integrality=np.ones(n_var),
        bounds=Bounds(0.0, 1.0),
    )
    if res.status != 0 or res.x is None:
        raise ValueError(f"infeasible: no assignment meets the capacities ({res.message})")
    chosen = np.asarray(res.x) > 0.5
    out = np.empty(n_tasks, dtype=np.int64)
    out[t_idx[chosen]] = i_idx[chosen]
    return out


def assign(costs: ArrayLike, capacities: ArrayLike, method: Method = "auto") -> Assignment:
    """Exactly optimal assignment of every task to an instance within capacities.

    ``costs``: shape (n_tasks, n_instances), finite or +inf (forbidden).
    ``capacities``: shape (n_instances,), whole numbers >= 0.
    Raises ``ValueError`` for wrong shapes, NaN/−inf costs, negative or
    fractional capacities, total capacity below the task count, or when the
    forbidden pairs leave no feasible assignment. ``method``: ``"slots"``
    (slot expansion + Jonker-Volgenant), ``"milp"`` (HiGHS) or ``"auto"``
    (slots unless the expansion exceeds ``SLOT_LIMIT`` cells). The optimum
    total cost is exact up to floating-point summation (checked against
    brute force in the tests).
    """
    if method not in ("auto", "slots", "milp"):
        raise ValueError(f"method must be 'auto', 'slots' or 'milp', got {method!r}")
    c, cap = _validate(costs, capacities)
    n_tasks, n_inst = c.shape
    if n_tasks == 0:
        return Assignment(np.zeros(0, np.int64), np.zeros(n_inst, np.int64), 0.0)
    cells = n_tasks * int(np.minimum(cap, n_tasks).sum())
    use_slots = method == "slots" or (method == "auto" and cells <= SLOT_LIMIT)
    choice = _solve_slots(c, cap) if use_slots else _solve_milp(c, cap)
    loads = np.bincount(choice, minlength=n_inst).astype(np.int64)
    total = float(c[np.arange(n_tasks), choice].sum())
    choice.setflags(write=False)
    loads.setflags(write=False)
    return Assignment(choice, loads, total)
