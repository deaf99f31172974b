"""Choosing a tool instance for each pending call (min-cost, capacity-aware).

Each call may run on any instance of its own tool. The cost of call t on
instance i is::

    latency_weight · latency_ms(i) + risk_weight · error_rate(i) + budget_weight · cost_cents(i)

(units: milliseconds-equivalent; pairs across different tools are forbidden),
and :func:`somagent.math.assignment.assign` finds the exactly optimal
assignment within each instance's free ``capacity``. Calls a tool has no
room for now are *deferred* (latest indexes first) and scheduled later.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from somagent.math.assignment import assign
from somagent.tools.exceptions import ToolError
from somagent.tools.spec import ToolSpec
from somagent.turns.state import ToolCall


class SchedulingError(ToolError):
    """A pending call's tool has no instance at all."""


@dataclass(frozen=True)
class InstanceState:
    """What the scheduler knows about one executor instance right now."""

    instance_id: str
    tool: str
    capacity: int = 1
    latency_ms: float = 0.0
    error_rate: float = 0.0
    cost_cents: float = 0.0


@dataclass(frozen=True)
class Weights:
    """Converts risk and budget into milliseconds-equivalent."""

    latency: float = 1.0
    risk: float = 1_000.0
    budget: float = 100.0


@dataclass(frozen=True)
class Schedule:
    """``assigned``: call index → instance id; ``deferred``: indexes left for later."""

    assigned: dict[int, str]
    deferred: tuple[int, ...]
    total_cost: float


def instances_for(spec: ToolSpec, capacity: int = 1) -> list[InstanceState]:
    """Fresh instance states ``{tool}#0..{instances-1}`` for a spec."""
    return [InstanceState(f"{spec.name}#{k}", spec.name, capacity) for k in range(spec.instances)]


def _cost(inst: InstanceState, w: Weights) -> float:
    return w.latency * inst.latency_ms + w.risk * inst.error_rate + w.budget * inst.cost_cents


def schedule(
    calls: Sequence[ToolCall], instances: Sequence[InstanceState], weights: Weights = Weights()
) -> Schedule:
    """The least-cost placement of ``calls`` on ``instances`` (see the module doc)."""
    room: dict[str, int] = defaultdict(int)
    for inst in instances:
        room[inst.tool] += max(0, inst.capacity)
    known = {inst.tool for inst in instances}
    runnable: list[ToolCall] = []
    deferred: list[int] = []
    for call in sorted(calls, key=lambda c: c.index):
        if call.tool not in known:
            raise SchedulingError(f"no instance of tool {call.tool!r} for call {call.index}")
        if room[call.tool] > 0:
            room[call.tool] -= 1
            runnable.append(call)
        else:
            deferred.append(call.index)
    costs = [
        [_cost(inst, weights) if inst.tool == call.tool else math.inf for inst in instances]
        for call in runnable
    ]
    if not runnable:
        return Schedule({}, tuple(deferred), 0.0)
    result = assign(costs, [max(0, inst.capacity) for inst in instances])
    assigned = {
        call.index: instances[int(i)].instance_id
        for call, i in zip(runnable, result.instance_of_task, strict=True)
    }
    return Schedule(assigned, tuple(deferred), result.total_cost)
