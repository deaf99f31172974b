"""The wrapper every route runs in: trace id, timing, problems, audit, metrics.

For each request it takes the W3C ``traceparent`` trace id (or draws one), runs
the handler, turns a raised :class:`~somagent.api.problems.Problem` (or a backing
service failure, 503) into ``application/problem+json``, and appends
``PolicyDenied`` for every rejection and ``GatewayRequestAudited`` for every
request whose credentials were accepted (both on ``gateway.audit``, keyed by
tenant). Rejections before authentication carry the nil tenant
``00000000-0000-0000-0000-000000000000``.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from opentelemetry.trace import SpanKind
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from somagent.api.context import EdgeContext
from somagent.api.problems import Problem
from somagent.contract import names
from somagent.events import tracing
from somagent.events.envelope import make_event
from somagent.kafka.exceptions import LogUnavailable
from somagent.limits.exceptions import GuardUnavailable
from somagent.telemetry.tracing import span as tracing_span
from somagent.telemetry.tracing import trace_id_hex

log = logging.getLogger(__name__)

NIL_TENANT = str(uuid.UUID(int=0))
PRODUCER = "edge"


@dataclass
class Call:
    """Request-scoped facts the handler fills in as it authenticates."""

    ctx: EdgeContext
    trace_id: str
    started: float
    tenant: str | None = None
    session: str | None = None
    turn: str | None = None
    principal: str = ""


Handler = Callable[[Request, Call], Awaitable[Response]]


def trace_id_of(request: HTTPConnection) -> str:
    header = request.headers.get("traceparent")
    if header:
        try:
            return tracing.parse_traceparent(header)[0]
        except ValueError:
            pass
    return tracing.new_trace_id()


def _backing_problem(exc: Exception) -> Problem:
    return Problem("dependency-unavailable", f"a backing service failed: {exc}",
                   headers={"Retry-After": "1"}, retry_after_s=1)


def endpoint(route: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap ``handler(request, call)`` as a Starlette endpoint named ``route`` in metrics."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            ctx: EdgeContext = request.app.state.edge
            with tracing_span(f"{request.method} {route}",
                              traceparent=request.headers.get("traceparent"),
                              kind=SpanKind.SERVER, attributes={"http.route": route}) as span:
                trace_id = trace_id_hex(span) or trace_id_of(request)
                call = Call(ctx, trace_id, time.perf_counter())
                try:
                    response = await handler(request, call)
                except Problem as problem:
                    response = deny(request, call, problem)
                except (LogUnavailable, GuardUnavailable, RedisError, asyncpg.PostgresError,
                        asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                    log.error("%s %s: %s", request.method, request.url.path, exc)
                    response = deny(request, call, _backing_problem(exc))
                span.set_attribute("http.status_code", response.status_code)
                response.headers.setdefault("X-Trace-Id", call.trace_id)
                finish(request, call, route, response.status_code)
            return response

        return run

    return wrap


def deny(request: HTTPConnection, call: Call, problem: Problem) -> Response:
    """The problem response, with its ``PolicyDenied`` audit event and denial metric."""
    ctx = call.ctx
    ctx.metrics.denials.labels(problem.slug).inc()
    ctx.appender.append_nowait(
        make_event(
            names.POLICY_DENIED,
            {"reason_code": problem.slug, "detail": problem.detail[:2000],
             "path": request.url.path,
             # a constitution policy's refusal names its hash and rule; the edge's own
             # refusals name their problem type as the rule
             "policy_hash": problem.extensions.get("policy_hash"),
             "rule": problem.extensions.get("rule") or problem.slug},
            tenant=call.tenant or NIL_TENANT,
            producer=PRODUCER,
            session=call.session,
            turn=call.turn,
            trace_id=call.trace_id,
        )
    )
    return problem.response(request.url.path, call.trace_id)


def finish(request: HTTPConnection, call: Call, route: str, status: int) -> None:
    """Metrics for every request (a WebSocket counts as ``GET``, status 101 once
    accepted); ``GatewayRequestAudited`` for authenticated ones."""
    elapsed = time.perf_counter() - call.started
    metrics = call.ctx.metrics
    method = str(request.scope.get("method", "GET"))
    metrics.requests.labels(method, route, str(status)).inc()
    metrics.latency.labels(method, route).observe(elapsed)
    if call.tenant is None:
        return
    call.ctx.appender.append_nowait(
        make_event(
            names.GATEWAY_REQUEST_AUDITED,
            {"method": method, "path": request.url.path, "status": status,
             "principal": call.principal, "latency_us": int(elapsed * 1e6)},
            tenant=call.tenant,
            producer=PRODUCER,
            session=call.session,
            turn=call.turn,
            trace_id=call.trace_id,
        )
    )
