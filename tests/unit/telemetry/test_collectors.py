"""Scrape-time collectors over real role objects (a broker's breakers, ledger books)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from somagent.billing.ledger import LedgerBook
from somagent.telemetry.collectors import (
    BillingCollector,
    BreakerCollector,
    ProjectorCollector,
    breaker_counts,
    window_lag_s,
)
from somagent.tools import breaker as cb


def _exposition(collector: Any) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_breaker_counts_group_non_closed_breakers_by_tool() -> None:
    cfg = cb.BreakerConfig()
    opened = cb.Breaker()
    for _ in range(cfg.failure_threshold):
        opened = cb.record_failure(opened, cfg, 1000)
    items = [(("t1", "python#0"), opened), (("t2", "python#1"), opened),
             (("t1", "sql#0"), cb.Breaker())]
    counts = breaker_counts(items, lambda b: cb.state_at(b, cfg, 1000).value)
    assert counts == {("python", "open"): 2}
    later = breaker_counts(items, lambda b: cb.state_at(b, cfg, 1000 + cfg.reset_timeout_ms).value)
    assert later == {("python", "half_open"): 2}
    text = _exposition(BreakerCollector(lambda: dict(items),
                                        lambda b: cb.state_at(b, cfg, 1000).value))
    assert 'somagent_circuit_breakers{state="open",tool="python"} 2.0' in text


def test_window_lag_is_time_past_the_oldest_open_windows_end() -> None:
    assert window_lag_s(None, 1000.0) == 0.0
    assert window_lag_s(0, 30.0) == 0.0  # the window [0, 60 s) has not ended
    assert window_lag_s(0, 75.0) == 15.0


@dataclass
class _Part:
    book: LedgerBook


@dataclass
class _Agent:
    parts: dict[int, Any] = field(default_factory=dict)
    usage_in: int = 4
    rows_out: int = 2


def test_billing_collector_reads_the_books() -> None:
    book = LedgerBook(grace_us=5_000_000)
    assert book.oldest_open_start_us() is None
    agent = _Agent({2: _Part(book)})
    text = _exposition(BillingCollector(agent, clock_s=lambda: 100.0))
    assert 'somagent_billing_window_lag_seconds{partition="2"} 0.0' in text
    assert 'somagent_billing_open_windows{partition="2"} 0.0' in text
    assert "somagent_billing_usage_records_total 4.0" in text
    assert "somagent_billing_ledger_rows_total 2.0" in text


@dataclass
class _Stats:
    events: int = 7
    positions: dict[tuple[str, int], int] = field(default_factory=dict)


def test_projector_collector_positions_and_lag() -> None:
    stats = {"postgres": _Stats(positions={("conversation.events", 0): 10})}
    ends = {"postgres": {("conversation.events", 0): 14, ("conversation.events", 1): 3}}
    text = _exposition(ProjectorCollector(stats, lambda: ends))
    assert ('somagent_projector_position{partition="0",projector="postgres",'
            'topic="conversation.events"} 10.0') in text
    assert ('somagent_projector_lag_records{partition="1",projector="postgres",'
            'topic="conversation.events"} 3.0') in text
    assert 'somagent_projector_events_total{projector="postgres"} 7.0' in text
