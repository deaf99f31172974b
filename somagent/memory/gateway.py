"""The Memory Gateway's HTTP API (Starlette): recall and remember for the other roles.

The gateway is the one process that opens the vector store; turn workers, the
edge and the ``memory.search`` tool reach it here (``somagent.memory.client``).

* ``POST /v1/recall`` ``{tenant, query, top_k?, capsule_ids?}`` → 200
  ``{"evidence": [...]}`` (:meth:`Recaller.recall`: the query is redacted with the
  PII key, embedded, searched within the tenant, best first).
* ``POST /v1/remember`` ``{tenant, text, source, trace_id, capsule_id?, session?,
  turn?, seq?, reason?, request_id?, wait_ms?}``: the text is redacted
  (``requested_payload``) and ``MemoryRememberRequested`` appended to
  ``memory.events`` with event id ``request_id`` (a retry with the same id is the
  same request). Answers 202 ``{memory_id, request_id, position, status:
  "requested", size_bytes}`` (``size_bytes``: the redacted text's UTF-8 size) once
  Kafka acknowledged it; with ``wait_ms`` it first waits until
  this gateway's projector applied the guard's decision: 201 ``status: "remembered"``
  (a recall starting now sees it) or 200 ``status: "rejected"`` with
  ``reason_code``; still 202 if the wait ran out. The session's constitution policy
  decides the write first (:mod:`somagent.policy.memory_gate`): 403 ``policy-denied``
  naming the policy hash and rule, with ``PolicyDenied`` appended and nothing else.
* ``GET /healthz`` (engine, collection, points, projector positions, lag) and
  ``GET /metrics`` (Prometheus), unauthenticated, for the supervisor and scrapers.

``/v1/*`` needs ``Authorization: Bearer <service token>`` (401 otherwise). Every
rejection is RFC 9457 problem+json (``somagent.api.problems``): malformed JSON 400,
a body not matching its schema or failing recall validation 422 naming the field,
a text over the guard's limit 413, the store or Kafka failing 503 with
``Retry-After``. A rejected remember appends nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from somagent.api.bodies import read_json
from somagent.api.problems import Problem
from somagent.credentials import matches
from somagent.events.envelope import make_event, now_us, random_event_id
from somagent.events.tracing import new_trace_id
from somagent.exceptions import DeadlineExceeded, SomagentError
from somagent.math.utility import WEIGHT_NAMES
from somagent.memory.brain.service import Brain
from somagent.memory.exceptions import (
    InvalidRecallRequest,
    InvalidRememberRequest,
    UnknownBundle,
    UnknownEvidence,
    WeightsOutOfBounds,
)
from somagent.memory.guard import RememberGuard, RememberRequest
from somagent.memory.metrics import GatewayMetrics
from somagent.memory.model import EvidenceBlock
from somagent.memory.recall import MAX_CAPSULE_IDS, MAX_QUERY_BYTES, MAX_TOP_K, Recaller
from somagent.memory.remember import MEMORY_REMEMBER_REQUESTED, MemoryProjector, requested_payload
from somagent.memory.store import OwningStore
from somagent.telemetry import tracing

log = logging.getLogger(__name__)

PRODUCER: Final = "memory-gateway"
MAX_WAIT_MS: Final = 30_000
MAX_BODY_BYTES: Final = 64 * 1024
_UUID = {"type": "string", "pattern": "^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"}
_ID = {"type": "string", "minLength": 1, "maxLength": 128}

RECALL_BODY: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tenant", "query"],
    "properties": {
        "tenant": _ID,
        "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_BYTES},
        "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K},
        "capsule_ids": {"type": ["array", "null"], "items": _ID, "maxItems": MAX_CAPSULE_IDS},
    },
}

REMEMBER_BODY: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tenant", "text", "source", "trace_id"],
    "properties": {
        "tenant": _UUID,
        "text": {"type": "string", "minLength": 1, "maxLength": 8192},
        "source": {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,64}$"},
        "trace_id": {"type": "string", "pattern": "^(?!0{32}$)[0-9a-f]{32}$"},
        "capsule_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 128},
        "session": {"anyOf": [_UUID, {"type": "null"}]},
        "turn": {"anyOf": [_UUID, {"type": "null"}]},
        "seq": {"type": "integer", "minimum": 0},
        "reason": {"type": "string", "maxLength": 512},
        "request_id": _UUID,
        "wait_ms": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_MS},
    },
}

EVALUATE_BODY: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tenant", "query"],
    "properties": {
        **RECALL_BODY["properties"],
        "directives": {"type": "array", "items": {"type": "string", "maxLength": 512},
                       "maxItems": 32},
        "weights": {"type": "array", "items": {"type": "number"}, "minItems": 7, "maxItems": 7},
    },
}

FEEDBACK_BODY: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tenant", "bundle_id", "useful"],
    "properties": {
        "tenant": _UUID,
        "bundle_id": _UUID,
        "useful": {"type": "array", "items": _ID, "minItems": 1, "maxItems": 50},
        "trace_id": {"type": "string", "pattern": "^(?!0{32}$)[0-9a-f]{32}$"},
    },
}

Append = Callable[[Mapping[str, Any]], Awaitable[tuple[int, int]]]


@dataclass
class GatewayDeps:
    """What the routes use; assembled by :mod:`somagent.serve.memory` (or a test)."""

    recaller: Recaller
    guard: RememberGuard
    projector: MemoryProjector
    store: OwningStore
    append: Append
    token: str
    engine: str
    collection: str
    metrics: GatewayMetrics
    lag: Callable[[dict[int, int]], dict[int, int] | None] = field(default=lambda _: None)
    brain: Brain | None = None
    #: The constitution's check on writes (``somagent.policy.memory_gate.OpaMemoryPolicy``).
    policy: Any = None


def evidence_json(block: EvidenceBlock) -> dict[str, Any]:
    """An evidence block as the gateway sends it: ``to_dict()`` plus the exact
    ``score`` and ``created_at_us`` so a client rebuilds the same block."""
    return {**block.to_dict(), "score": float(block.score), "created_at_us": block.created_at_us}


def _authorize(request: Request, token: str) -> None:
    header = request.headers.get("authorization")
    if header is None:
        raise Problem(
            "unauthorized", "Authorization: Bearer <service token> is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not matches(presented.strip(), token):
        raise Problem(
            "invalid-token", "the bearer token is not this installation's service credential",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


_KINDS = {400: "bad_input", 401: "unauthorized", 404: "bad_input", 413: "bad_input",
          415: "bad_input", 422: "bad_input", 503: "unavailable"}

Handler = Callable[[Request, GatewayDeps], Awaitable[Response]]


def _endpoint(route: str, handler: Handler, *, authenticated: bool = True) -> Any:
    """Wrap ``handler`` in a server span: authentication, problem+json for every
    failure, request metrics (:func:`_handle`)."""

    async def endpoint(request: Request) -> Response:
        # The caller's traceparent (MemoryGatewayClient sends it): the records this
        # request appends carry this span, so they join the turn's trace.
        with tracing.span(f"gateway {route}", traceparent=request.headers.get("traceparent"),
                          kind=SpanKind.SERVER, attributes={"http.route": route}):
            return await _handle(request, route, handler, authenticated)

    return endpoint


async def _handle(request: Request, route: str, handler: Handler, authenticated: bool
                  ) -> Response:
    """Authentication, problem+json for every failure, request metrics."""
    deps: GatewayDeps = request.app.state.deps
    trace_id = request.headers.get("x-trace-id") or new_trace_id()
    try:
        if authenticated:
            _authorize(request, deps.token)
        response = await handler(request, deps)
    except Problem as problem:
        deps.metrics.errors.labels(route, _KINDS.get(problem.status, "internal")).inc()
        response = problem.response(request.url.path, trace_id)
    except Exception:
        log.exception("memory gateway %s failed", route)
        deps.metrics.errors.labels(route, "internal").inc()
        response = Problem("internal", f"{route} failed; see the gateway log").response(
            request.url.path, trace_id
        )
    deps.metrics.requests.labels(route, str(response.status_code)).inc()
    return response


def _unavailable(what: str, exc: BaseException) -> Problem:
    return Problem(
        "dependency-unavailable", f"{what}: {exc}", headers={"Retry-After": "1"}, retry_after_s=1
    )


async def recall(request: Request, deps: GatewayDeps) -> Response:
    started = time.perf_counter()
    body = await read_json(request, RECALL_BODY, MAX_BODY_BYTES)
    try:
        blocks = await deps.recaller.recall(
            body["tenant"], body["query"], int(body.get("top_k", 5)), body.get("capsule_ids")
        )
    except InvalidRecallRequest as exc:
        raise Problem("invalid-body", str(exc)) from exc
    except SomagentError as exc:  # MemoryStoreError, EmbeddingError
        raise _unavailable("memory store failed", exc) from exc
    deps.metrics.recall_latency.observe(time.perf_counter() - started)
    return JSONResponse({"evidence": [evidence_json(b) for b in blocks]})


def _brain(deps: GatewayDeps) -> Brain:
    if deps.brain is None:
        raise Problem("not-found", "this memory gateway runs without the brain")
    return deps.brain


async def brain_evaluate(request: Request, deps: GatewayDeps) -> Response:
    started = time.perf_counter()
    body = await read_json(request, EVALUATE_BODY, MAX_BODY_BYTES)
    brain = _brain(deps)
    try:
        bundle = await brain.evaluate(
            body["tenant"], body["query"], int(body.get("top_k", 5)), body.get("capsule_ids"),
            tuple(body.get("directives") or ()), body.get("weights"),
        )
    except WeightsOutOfBounds as exc:
        raise Problem("weights-out-of-bounds", str(exc)) from exc
    except InvalidRecallRequest as exc:
        raise Problem("invalid-body", str(exc)) from exc
    except SomagentError as exc:  # MemoryStoreError, EmbeddingError
        raise _unavailable("memory store failed", exc) from exc
    for stage, seconds in brain.timings_s.items():
        deps.metrics.brain_latency.labels(stage).observe(seconds)
    deps.metrics.brain_latency.labels("total").observe(time.perf_counter() - started)
    return JSONResponse(bundle.to_dict())


async def brain_feedback(request: Request, deps: GatewayDeps) -> Response:
    body = await read_json(request, FEEDBACK_BODY, MAX_BODY_BYTES)
    brain = _brain(deps)
    trace_id = body.get("trace_id") or request.headers.get("x-trace-id") or new_trace_id()
    try:
        result = await brain.feedback(
            body["tenant"], body["bundle_id"].lower(), body["useful"], trace_id, deps.append
        )
    except UnknownBundle as exc:
        raise Problem("bundle-not-found", str(exc)) from exc
    except UnknownEvidence as exc:
        raise Problem("unknown-evidence", str(exc)) from exc
    except SomagentError as exc:  # the log did not acknowledge
        raise _unavailable("memory.events append failed", exc) from exc
    update = result.update
    deps.metrics.brain_feedback.labels("held_out" if result.held_out else "step").inc()
    if update.rolled_back:
        deps.metrics.brain_rollbacks.inc()
    if update.mrr_candidate == update.mrr_candidate:  # not NaN
        deps.metrics.brain_heldout_mrr.set(update.mrr_candidate)

    def named(values: Any) -> dict[str, float]:
        return {n: float(v) for n, v in zip(WEIGHT_NAMES, values, strict=True)}

    def maybe(x: float) -> float | None:
        return None if x != x else float(x)

    return JSONResponse({
        "feedback_event_id": result.feedback_event_id, "held_out": result.held_out,
        "weights_before": named(update.before), "weights": named(update.after),
        "last_good": named(update.last_good), "rolled_back": update.rolled_back,
        "heldout_mrr": maybe(update.mrr_candidate), "heldout_mrr_good": maybe(update.mrr_good),
        "step": update.step,
    })


def _request(body: Mapping[str, Any], request_id: str) -> RememberRequest:
    return RememberRequest(
        tenant=body["tenant"],
        text=body["text"],
        created_at_us=now_us(),
        source=body["source"],
        capsule_id=body.get("capsule_id"),
        trace_id=body["trace_id"],
        request_id=request_id,
        reason=body.get("reason", ""),
    )


async def remember(request: Request, deps: GatewayDeps) -> Response:
    body = await read_json(request, REMEMBER_BODY, MAX_BODY_BYTES)
    request_id = str(body.get("request_id") or random_event_id()).lower()
    wanted = _request(body, request_id)
    if deps.policy is not None:  # the session's policy: 403 policy-denied before any append
        await deps.policy.check_write(tenant=wanted.tenant, session=body.get("session"),
                                      capsule=wanted.capsule_id, trace_id=wanted.trace_id)
    try:  # redaction is CPU work (up to ~0.4 s for 8 KiB of digits): off the loop
        payload = await asyncio.to_thread(requested_payload, deps.guard, wanted)
    except InvalidRememberRequest as exc:
        raise Problem("body-too-large", str(exc)) from exc
    event = make_event(
        MEMORY_REMEMBER_REQUESTED, payload, tenant=wanted.tenant, producer=PRODUCER,
        session=body.get("session"), turn=body.get("turn"), trace_id=wanted.trace_id,
        seq=int(body.get("seq", 0)), event_id=request_id,
    )
    try:
        position = await deps.append(event)
    except SomagentError as exc:  # LogUnavailable, ProduceError, EncodeError
        raise _unavailable("memory.events append failed", exc) from exc
    memory_id = str(payload["memory_id"])
    answer: dict[str, Any] = {
        "memory_id": memory_id, "request_id": request_id,
        "position": f"{position[0]}-{position[1]}", "status": "requested",
        "size_bytes": len(str(payload["text"]).encode("utf-8")),
    }
    wait_ms = int(body.get("wait_ms", 0))
    status_code, outcome_label = 202, "requested"
    if wait_ms > 0:
        try:
            outcome = await deps.projector.wait_for_decision(
                memory_id, request_id, position, wait_ms / 1000
            )
        except DeadlineExceeded:
            outcome_label = "pending"
        else:
            if outcome.remembered:
                answer["status"], status_code, outcome_label = "remembered", 201, "remembered"
            else:
                answer.update(status="rejected", reason_code=outcome.reason_code)
                status_code, outcome_label = 200, "rejected"
    deps.metrics.remember.labels(outcome_label).inc()
    return JSONResponse(answer, status_code=status_code)


async def healthz(request: Request, deps: GatewayDeps) -> Response:
    applied = deps.projector.applied_positions()
    body: dict[str, Any] = {
        "status": "ok", "engine": deps.engine, "collection": deps.collection,
        "projector": {str(p): o for p, o in sorted(applied.items())},
    }
    try:
        stats = await asyncio.to_thread(deps.store.stats)
    except SomagentError as exc:
        body.update(status="unavailable", detail=str(exc))
        return JSONResponse(body, status_code=503)
    body.update(points=stats.points, indexed_points=stats.indexed_points, segments=stats.segments)
    try:
        lag = await asyncio.to_thread(deps.lag, applied)
    except Exception as exc:  # lag is best effort: Kafka may be slow to answer
        log.warning("memory gateway: consumer lag unavailable: %s", exc)
        lag = None
    body["consumer_lag"] = None if lag is None else {str(p): n for p, n in sorted(lag.items())}
    return JSONResponse(body)


async def metrics(request: Request, deps: GatewayDeps) -> Response:
    exposition = await asyncio.to_thread(deps.metrics.exposition)
    return Response(exposition, media_type="text/plain; version=0.0.4; charset=utf-8")


async def _http_problem(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as problem+json, like every other rejection."""
    status = int(getattr(exc, "status_code", 500))
    slug = {404: "not-found", 405: "method-not-allowed"}.get(status, "internal")
    detail = f"{request.method} {request.url.path} is not served by the memory gateway"
    trace_id = request.headers.get("x-trace-id") or new_trace_id()
    return Problem(slug, detail).response(request.url.path, trace_id)


def create_gateway_app(deps: GatewayDeps) -> Starlette:
    """The gateway's Starlette app over ``deps`` (which the caller opens and closes)."""
    app = Starlette(
        exception_handlers={404: _http_problem, 405: _http_problem},
        routes=[
            Route("/v1/recall", _endpoint("recall", recall), methods=["POST"]),
            Route("/v1/remember", _endpoint("remember", remember), methods=["POST"]),
            Route("/v1/brain/evaluate", _endpoint("brain_evaluate", brain_evaluate),
                  methods=["POST"]),
            Route("/v1/brain/feedback", _endpoint("brain_feedback", brain_feedback),
                  methods=["POST"]),
            Route("/healthz", _endpoint("healthz", healthz, authenticated=False)),
            Route("/metrics", _endpoint("metrics", metrics, authenticated=False)),
        ]
    )
    app.state.deps = deps
    return app
