"""Scrape-time collectors: state a role already keeps, read when ``/metrics`` is asked.

Each collector reads a live object of the role (the projectors' stats, the billing
agent's partition books, the tool broker's breakers) from the health server's thread.
Those objects are mutated on the role's own thread, so a read copies first and a
collection that races a mutation (``RuntimeError: dictionary changed size``) is
retried, then skipped for that scrape: a scrape never raises and never blocks the role.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any, Protocol, TypeVar

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

T = TypeVar("T")
MINUTE_S = 60.0


def _copy(read: Callable[[], T], default: T) -> T:
    for _ in range(3):
        try:
            return read()
        except RuntimeError:  # mutated while we copied: try again
            continue
    return default


class _Stats(Protocol):
    events: int
    positions: dict[tuple[str, int], int]


class ProjectorCollector(Collector):
    """``somagent_projector_position`` / ``_lag_records`` / ``_events_total``.

    ``ends`` gives the log end per (topic, partition) as last computed by the
    projector's lag thread (no Kafka round trip at scrape time).
    """

    def __init__(self, stats: Mapping[str, _Stats],
                 ends: Callable[[], dict[str, dict[tuple[str, int], int]]]) -> None:
        self.stats = stats
        self.ends = ends

    def collect(self) -> Iterable[Any]:
        position = GaugeMetricFamily("somagent_projector_position",
                                     "Next offset the projector applies",
                                     labels=("projector", "topic", "partition"))
        lag = GaugeMetricFamily("somagent_projector_lag_records", "Log end minus position",
                                labels=("projector", "topic", "partition"))
        events = CounterMetricFamily("somagent_projector_events", "Events applied",
                                     labels=("projector",))
        ends = self.ends()
        for name, stat in list(self.stats.items()):
            empty: dict[tuple[str, int], int] = {}
            positions = _copy(lambda stat=stat: dict(stat.positions), empty)  # type: ignore[misc]
            for (topic, part), offset in sorted(positions.items()):
                position.add_metric((name, topic, str(part)), offset)
            for (topic, part), end in sorted(ends.get(name, {}).items()):
                behind = max(0, end - positions.get((topic, part), 0))
                lag.add_metric((name, topic, str(part)), behind)
            events.add_metric((name,), stat.events)
        yield from (position, lag, events)


class _Book(Protocol):
    def oldest_open_start_us(self) -> int | None: ...
    def open_windows(self) -> Iterator[Any]: ...


class _Part(Protocol):
    book: _Book


class _Billing(Protocol):
    parts: dict[int, Any]
    usage_in: int
    rows_out: int


class BillingCollector(Collector):
    """``somagent_billing_window_lag_seconds`` / ``_open_windows`` per input partition,
    ``somagent_billing_usage_records_total`` and ``_ledger_rows_total``."""

    def __init__(self, agent: _Billing, clock_s: Callable[[], float] = time.time) -> None:
        self.agent = agent
        self.clock_s = clock_s

    def collect(self) -> Iterable[Any]:
        lag = GaugeMetricFamily("somagent_billing_window_lag_seconds",
                                "Now minus the end of the oldest open window",
                                labels=("partition",))
        open_ = GaugeMetricFamily("somagent_billing_open_windows", "Windows not yet closed",
                                  labels=("partition",))
        now_s = self.clock_s()
        none: dict[int, Any] = {}
        parts = _copy(lambda: dict(self.agent.parts), none)
        for p, part in sorted(parts.items()):
            oldest = _copy(part.book.oldest_open_start_us, None)
            lag.add_metric((str(p),), window_lag_s(oldest, now_s))
            open_.add_metric((str(p),), _copy(partial(_count, part.book.open_windows), 0))
        yield lag
        yield open_
        yield CounterMetricFamily("somagent_billing_usage_records", "Distinct usage records",
                                  value=self.agent.usage_in)
        yield CounterMetricFamily("somagent_billing_ledger_rows", "Ledger rows confirmed",
                                  value=self.agent.rows_out)


def _count(items: Callable[[], Iterator[Any]]) -> int:
    return sum(1 for _ in items())


def window_lag_s(oldest_open_start_us: int | None, now_s: float) -> float:
    """Seconds since the oldest open one-minute window ended (0 when none is open or it
    has not ended yet)."""
    if oldest_open_start_us is None:
        return 0.0
    return max(0.0, now_s - (oldest_open_start_us / 1e6 + MINUTE_S))


class BreakerCollector(Collector):
    """``somagent_circuit_breakers{tool,state}``: (tenant, instance) breakers of the
    broker in each non-closed state, as of the broker's clock."""

    def __init__(self, breakers: Callable[[], Mapping[tuple[str, str], Any]],
                 state_of: Callable[[Any], str]) -> None:
        self.breakers = breakers
        self.state_of = state_of

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily("somagent_circuit_breakers",
                                   "Tool breakers (tenant x instance) per state",
                                   labels=("tool", "state"))
        counts = breaker_counts(_copy(lambda: list(self.breakers().items()), []), self.state_of)
        for (tool, state), n in sorted(counts.items()):
            family.add_metric((tool, state), n)
        yield family


def breaker_counts(items: Iterable[tuple[tuple[str, str], Any]],
                   state_of: Callable[[Any], str]) -> dict[tuple[str, str], int]:
    """``{(tool, state): count}`` of non-closed breakers; the instance id is
    ``<tool>#<n>`` (``somagent.tools.instances``), so the tool is what precedes ``#``."""
    counts: dict[tuple[str, str], int] = {}
    for (_tenant, instance), b in items:
        state = state_of(b)
        if state == "closed":
            continue
        key = (instance.split("#", 1)[0], state)
        counts[key] = counts.get(key, 0) + 1
    return counts


_REGISTERED: dict[type, Collector] = {}
_LOCK = threading.Lock()


def register(collector: Collector) -> Collector:
    """Register on the default registry (what the health port serves). One collector
    of each kind per process: a later one (a process that builds its role twice, e.g.
    a test) replaces the earlier, so names never repeat."""
    with _LOCK:
        previous = _REGISTERED.pop(type(collector), None)
        if previous is not None:
            REGISTRY.unregister(previous)
        REGISTRY.register(collector)
        _REGISTERED[type(collector)] = collector
    return collector
