"""Prometheus metrics of one edge app, in its own registry (no process-global state).

Names (all prefixed ``somagent_edge_``): ``requests_total{method,route,status}``,
``request_duration_seconds{method,route}`` (time to response start),
``turn_duration_seconds`` (``TurnCompleted.duration_ms`` of streamed turns),
``sse_streams_open``, ``sse_events_total{event}``, ``sse_event_delay_seconds``
(edge's own delay: record read by the tailer → bytes handed to the server),
``denials_total{reason}``, ``audit_failures_total``, ``ws_streams_open`` and
``ws_messages_total{event}`` (WebSocket turns, ``routes_ws``) and the admission gauges
``admission_utilisation`` (ρ), ``admission_p_wait`` (Erlang C) and
``admission_wait_p95_seconds`` (+Inf when unstable), ``admission_arrival_rate``
and ``admission_service_rate`` (per second).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from somagent.api.admission import Admission

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_DELAY_BUCKETS = (1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.1, 1)
_TURN_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)


class EdgeMetrics:
    def __init__(self, admission: Admission, audit_failures: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        p = "somagent_edge_"
        self.requests = Counter(
            p + "requests_total", "HTTP requests", ("method", "route", "status"), registry=r
        )
        self.latency = Histogram(
            p + "request_duration_seconds", "Time to response start", ("method", "route"),
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.turn_duration = Histogram(
            p + "turn_duration_seconds", "Turn latency (TurnCompleted.duration_ms)",
            buckets=_TURN_BUCKETS, registry=r,
        )
        self.streams_open = Gauge(p + "sse_streams_open", "Open SSE streams", registry=r)
        self.sse_events = Counter(p + "sse_events_total", "SSE events sent", ("event",), registry=r)
        self.event_delay = Histogram(
            p + "sse_event_delay_seconds", "Tailer read to SSE write, per event",
            buckets=_DELAY_BUCKETS, registry=r,
        )
        self.ws_open = Gauge(p + "ws_streams_open", "Open WebSocket turn streams", registry=r)
        self.ws_messages = Counter(p + "ws_messages_total", "Turn events sent over WebSocket",
                                   ("event",), registry=r)
        self.denials = Counter(p + "denials_total", "Rejected requests", ("reason",), registry=r)
        self.lane_shed = Counter(p + "admission_shed_total",
                                 "Turns refused by admission, per QoS lane", ("lane",), registry=r)
        Gauge(p + "audit_failures_total", "Audit events not delivered", registry=r).set_function(
            audit_failures
        )
        figures = admission.figures
        for name, key, doc in (
            ("admission_utilisation", "utilisation", "Erlang-C utilisation rho"),
            ("admission_p_wait", "p_wait", "Erlang-C probability of waiting"),
            ("admission_wait_p95_seconds", "wait_p95_s", "P95 queueing wait bound"),
            ("admission_arrival_rate", "arrival_rate", "EWMA turn arrivals per second"),
            ("admission_service_rate", "service_rate", "EWMA turns served per second per worker"),
        ):
            Gauge(p + name, doc, registry=r).set_function(
                lambda key=key: float(figures()[key])  # type: ignore[misc]
            )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
