"""Live placement of tool calls on a tool's interchangeable instances.

The broker asks :meth:`InstancePool.place` before each call of a tool that has
several instances (``ToolSpec.instances``); the pool turns what it has measured
(latency EWMA, error-rate EWMA, calls in flight) into
:class:`~somagent.tools.scheduler.InstanceState` and lets
:func:`~somagent.tools.scheduler.schedule` (``somagent.math.assignment.assign``)
pick the least-cost instance with free capacity. When every instance is full the
call still runs, on the cheapest one (a queued call is better than a refused one).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from somagent.tools.scheduler import InstanceState, Weights, schedule
from somagent.tools.spec import ToolSpec
from somagent.turns.state import ToolCall


@dataclass
class _Stats:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    in_flight: int = 0


def instance_ids(spec: ToolSpec) -> list[str]:
    """The ids of a tool's interchangeable instances: ``{tool}#0`` … ``{tool}#{n-1}``."""
    return [f"{spec.name}#{k}" for k in range(spec.instances)]


class InstancePool:
    """Per-instance measurements for every multi-instance tool of one broker.

    ``capacity`` is concurrent calls per instance; ``alpha`` the EWMA weight of
    the newest observation (0 < alpha <= 1). Thread- and task-safe.
    """

    def __init__(
        self, capacity: int = 4, alpha: float = 0.2, weights: Weights | None = None
    ) -> None:
        if capacity < 1 or not 0 < alpha <= 1:
            raise ValueError(f"capacity must be >= 1 and 0 < alpha <= 1, got {capacity}, {alpha}")
        self.capacity, self.alpha = capacity, alpha
        self.weights = weights or Weights()
        self._stats: dict[str, _Stats] = {}
        self._lock = threading.Lock()

    def _states(
        self, spec: ToolSpec, floor: int, exclude: frozenset[str] = frozenset()
    ) -> list[InstanceState]:
        states = []
        for iid in instance_ids(spec):
            if iid in exclude:
                continue
            st = self._stats.setdefault(iid, _Stats())
            states.append(
                InstanceState(
                    iid,
                    spec.name,
                    max(floor, self.capacity - st.in_flight),
                    st.latency_ms,
                    st.error_rate,
                )
            )
        return states

    def place(
        self, spec: ToolSpec, call: ToolCall, exclude: frozenset[str] = frozenset()
    ) -> str:
        """The instance id ``call`` runs on (``{tool}#{k}``), never one in ``exclude``
        (e.g. whose breaker is open for the caller); marks it in flight.

        Raises ``ValueError`` when ``exclude`` leaves no instance.
        """
        if not set(instance_ids(spec)) - exclude:
            raise ValueError(f"every instance of {spec.name} is excluded")
        if spec.instances == 1:
            return f"{spec.name}#0"
        with self._lock:
            plan = schedule([call], self._states(spec, 0, exclude), self.weights)
            if not plan.assigned:  # all full: queue on the cheapest instance
                plan = schedule([call], self._states(spec, 1, exclude), self.weights)
            chosen = plan.assigned[call.index]
            self._stats[chosen].in_flight += 1
            return chosen

    def record(self, instance_id: str, duration_ms: int, ok: bool) -> None:
        """Fold one finished call into the instance's measurements (``ok``: the instance
        worked; a caller's own failure, e.g. a program exiting non-zero, is ``ok``)."""
        with self._lock:
            st = self._stats.setdefault(instance_id, _Stats())
            st.in_flight = max(0, st.in_flight - 1)
            a = self.alpha
            st.latency_ms = (1 - a) * st.latency_ms + a * float(duration_ms)
            st.error_rate = (1 - a) * st.error_rate + a * (0.0 if ok else 1.0)

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {
                k: {
                    "latency_ms": v.latency_ms,
                    "error_rate": v.error_rate,
                    "in_flight": float(v.in_flight),
                }
                for k, v in self._stats.items()
            }
