"""OpenTelemetry traces: one trace per turn across the role processes.

With ``SOMAGENT_OTLP_ENDPOINT`` set (an OTLP/HTTP base URL such as
``http://127.0.0.1:4318``), :func:`configure` installs a tracer provider that batches
spans to ``<endpoint>/v1/traces``, with ``service.name`` ``somagent-<role>`` and
``service.instance.id`` ``<role>-<instance>``. Without it nothing is exported and
:func:`span` costs a no-op span.

Linking: the edge's request span continues the client's W3C ``traceparent`` (or
starts the trace whose id becomes the turn's ``trace_id``); every Kafka record an
active span writes carries that span as its ``traceparent`` header
(:func:`current_traceparent`, used by the producer), and consumers start their spans
as children of the record's header (:func:`span` with ``traceparent``,
:func:`record_spans` for batch consumers). HTTP calls to the Memory Gateway carry
the header too (:func:`inject`). See docs/observability.md for every span.

Guarantee: tracing never changes what the platform does; export failures are the
SDK's to log, never raised into a role.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENDPOINT_ENV = "SOMAGENT_OTLP_ENDPOINT"
_PROPAGATOR = TraceContextTextMapPropagator()
_state = {"enabled": False}


def configure(role: str, instance: int = 0, endpoint: str | None = None) -> bool:
    """Export this process's spans over OTLP/HTTP when an endpoint is set (argument or
    ``SOMAGENT_OTLP_ENDPOINT``); True when exporting. Call once, at role start."""
    endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
    if not endpoint or _state["enabled"]:
        return _state["enabled"]
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": f"somagent-{role}",
                                "service.instance.id": f"{role}-{instance}",
                                "process.pid": os.getpid()})
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # flush what is batched when the role stops
    _state["enabled"] = True
    return True


def configure_role(role: str) -> bool:
    """:func:`configure` for a role process the supervisor started (its instance index
    in ``SOMAGENT_ROLE_INSTANCE``)."""
    return configure(os.environ.get("SOMAGENT_ROLE", role),
                     int(os.environ.get("SOMAGENT_ROLE_INSTANCE", "0")))


def enabled() -> bool:
    return _state["enabled"]


def tracer() -> trace.Tracer:
    return trace.get_tracer("somagent")


def parent(traceparent: str | None) -> Context | None:
    """The remote parent a ``traceparent`` names (None when absent or malformed)."""
    if not traceparent:
        return None
    ctx = _PROPAGATOR.extract({"traceparent": traceparent})
    valid = trace.get_current_span(ctx).get_span_context().is_valid
    return ctx if valid else None


@contextmanager
def span(name: str, *, traceparent: str | None = None, kind: SpanKind = SpanKind.INTERNAL,
         attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """A span made current for the block: a child of ``traceparent`` when given, else
    of the current span. An exception escaping the block is recorded on it."""
    with tracer().start_as_current_span(name, context=parent(traceparent), kind=kind,
                                        attributes=dict(attributes or {})) as current:
        yield current


def trace_id_hex(current: Span) -> str | None:
    """The 32-hex trace id of a recording span, None for a no-op one."""
    context = current.get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def current_traceparent(trace_id: str) -> str | None:
    """The active span as a ``traceparent`` when it belongs to trace ``trace_id`` (what
    a record written now should carry), else None."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or format(context.trace_id, "032x") != trace_id:
        return None
    flags = "01" if context.trace_flags.sampled else "00"
    return f"00-{trace_id}-{format(context.span_id, '016x')}-{flags}"


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the active span's ``traceparent`` to outgoing HTTP headers."""
    _PROPAGATOR.inject(headers)


def record_spans(name: str, records: Iterable[tuple[str | None, Mapping[str, Any]]],
                 start_ns: int, end_ns: int) -> int:
    """One span per record (its ``traceparent`` as parent) covering ``[start_ns,
    end_ns]``, the batch that handled it; records without a header are skipped.
    Returns the spans made (0 when tracing is off)."""
    if not _state["enabled"]:
        return 0
    made = 0
    for traceparent, attributes in records:
        ctx = parent(traceparent)
        if ctx is None:
            continue
        s = tracer().start_span(name, context=ctx, kind=SpanKind.CONSUMER,
                                attributes=dict(attributes), start_time=start_ns)
        s.end(end_time=end_ns)
        made += 1
    return made
