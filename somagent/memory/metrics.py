"""Prometheus metrics of the Memory Gateway, in its own registry (no process-global state).

Names (all prefixed ``somagent_memory_``): ``requests_total{route,status}``,
``recall_duration_seconds`` (server side: body read to response, embedding and
search included), ``remember_requests_total{outcome}`` (``requested``,
``remembered``, ``rejected``, ``pending``: the ``wait_ms`` ran out),
``errors_total{route,kind}`` (``bad_input``, ``unauthorized``, ``unavailable``,
``internal``), ``optimize_duration_seconds`` (HNSW builds by the indexer), and the
gauges ``points`` and ``indexed_points`` of the collection. The brain's, prefixed
``somabrain_``: ``recall_latency_seconds{stage}`` (``total``, ``embed``, ``search``,
``score``, ``bundle``), ``feedback_updates_total{kind}`` (``step``, ``held_out``),
``rollbacks_total`` and the gauge ``heldout_mrr``.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
)
_OPTIMIZE_BUCKETS = (0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class GatewayMetrics:
    """The gateway's counters and histograms; ``exposition()`` is the ``/metrics`` body."""

    def __init__(self, points: Callable[[], float], indexed_points: Callable[[], float]):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        p = "somagent_memory_"
        self.requests = Counter(
            p + "requests_total", "HTTP requests", ("route", "status"), registry=r
        )
        self.recall_latency = Histogram(
            p + "recall_duration_seconds", "Recall handling time (embed + search)",
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.remember = Counter(
            p + "remember_requests_total", "Remember requests by outcome", ("outcome",),
            registry=r,
        )
        self.errors = Counter(
            p + "errors_total", "Rejected or failed requests", ("route", "kind"), registry=r
        )
        self.optimize = Histogram(
            p + "optimize_duration_seconds", "Index build passes (Qdrant Edge optimize)",
            buckets=_OPTIMIZE_BUCKETS, registry=r,
        )
        # SomaBrain (POST /v1/brain/*), named like the seed's somabrain_* metrics.
        self.brain_latency = Histogram(
            "somabrain_recall_latency_seconds", "Evaluate handling time by stage",
            ("stage",), buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.brain_feedback = Counter(
            "somabrain_feedback_updates_total", "Feedback applied by kind (step, held_out)",
            ("kind",), registry=r,
        )
        self.brain_rollbacks = Counter(
            "somabrain_rollbacks_total", "Weight updates rolled back to the last good weights",
            registry=r,
        )
        self.brain_heldout_mrr = Gauge(
            "somabrain_heldout_mrr", "Held-out MRR of the last updated scope's weights",
            registry=r,
        )
        Gauge(p + "points", "Points in the collection", registry=r).set_function(points)
        Gauge(p + "indexed_points", "Points covered by an HNSW graph", registry=r).set_function(
            indexed_points
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
