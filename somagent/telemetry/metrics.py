"""The process-wide Prometheus metrics of the roles (prometheus_client's default registry).

One process is one scrape target (its health port), so these are module-level: the
tool broker, the Memory Gateway client, the turn driver and the lag sources observe
into them wherever they run. Names and labels are listed in docs/observability.md
and never change meaning.

Guarantees: observing never raises into the caller (label values are plain
strings); label cardinality is bounded by tools, steps, outcomes (error codes),
groups, topics and partitions; never by tenants, sessions or turns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Gauge, Histogram

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_STEP = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

TOOL_CALL_DURATION = Histogram(
    "somagent_tool_call_duration_seconds",
    "One tool call through the broker (retries included), by tool and outcome",
    ("tool", "outcome"), buckets=_STEP,
)
RECALL_DURATION = Histogram(
    "somagent_recall_duration_seconds",
    "Recall through the Memory Gateway client (client side)", ("op", "outcome"), buckets=_FAST,
)
REMEMBER_DURATION = Histogram(
    "somagent_remember_duration_seconds",
    "Remember through the Memory Gateway client (client side)", ("outcome",), buckets=_FAST,
)
TURN_STEP_DURATION = Histogram(
    "somagent_turn_step_duration_seconds",
    "One step of the turn engine, by step and outcome", ("step", "outcome"), buckets=_STEP,
)
CONSUMER_LAG = Gauge(
    "somagent_consumer_lag_records",
    "Records between a consumer group's committed offset and the log end",
    ("group", "topic", "partition"),
)


@contextmanager
def timed(histogram: Histogram, *labels: str) -> Iterator[list[str]]:
    """Observe the block's duration into ``histogram``; the yielded list is the outcome
    label (``["ok"]``; set it to something else inside the block; an exception that
    escapes the block observes ``error``)."""
    outcome = ["ok"]
    started = time.perf_counter()
    try:
        yield outcome
    except BaseException:
        outcome[0] = "error"
        raise
    finally:
        histogram.labels(*labels, outcome[0]).observe(time.perf_counter() - started)


def set_consumer_lag(group: str, behind: dict[tuple[str, int], int]) -> None:
    """Publish ``{(topic, partition): records behind}`` of ``group``."""
    for (topic, partition), records in behind.items():
        CONSUMER_LAG.labels(group, topic, str(partition)).set(records)
