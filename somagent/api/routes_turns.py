"""``POST /v1/turn``, ``GET /v1/turns/{id}/events``, ``POST /v1/turns/{id}/cancel``.

Guards on a new turn, in order: token (401), admission (503 per QoS lane: ``batch``
is shed before ``interactive``; from in-memory estimates only), body
(415/413/400/422), session ownership (404/403), Idempotency-Key replay (same turn
and stream), rate limit (429: a tool the turn allows has no room left in its
``rate:{tenant}:{tool}`` window of ``tools_per_min``; the edge only looks, the tool
broker takes a slot per call), token pre-authorisation (402), the tenant's tokens
per minute and concurrent turns (429, :mod:`somagent.api.tenant_guards`). Only then
is ``TurnRequested`` appended; a rejected request appends no turn events (and gives
back its idempotency claim so the client can retry). An append whose fate is unknown
(not acknowledged in time) keeps the claim and its reservation until the broker says
what happened: a retry with the same Idempotency-Key joins the turn if it was
appended after all, and is free to start one if it was not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from somagent.api.auth import canonical_uuid, owned_session, session_token
from somagent.api.bodies import CANCEL_REQUEST, TURN_REQUEST, read_json
from somagent.api.call import PRODUCER, Call, endpoint
from somagent.api.context import EdgeContext
from somagent.api.problems import Problem, throttled
from somagent.api.records import TurnRecord
from somagent.api.session_tokens import SessionClaims
from somagent.api.sse import MEDIA_TYPE, parse_position
from somagent.api.tailer import LoggedEvent, Subscription
from somagent.api.tenant_guards import Held, give_back
from somagent.api.tenant_guards import take as take_tenant_allowance
from somagent.api.turn_stream import read_past, turn_stream
from somagent.contract import names
from somagent.contract.ids import event_id
from somagent.events.envelope import make_event, now_us
from somagent.kafka.exceptions import AppendInDoubt
from somagent.limits.exceptions import GuardUnavailable
from somagent.limits.idempotency import idem_key
from somagent.limits.ratelimit import rate_key

log = logging.getLogger(__name__)

_IDEM_WAIT_S = 10.0
# An Idempotency-Key is first claimed for a short lease, extended to the full time to
# live once its turn is on the log: a claim left behind by a request that failed
# while Redis was down (so it could not be released) expires by itself.
_IDEM_LEASE_S = 30
# While an append's fate is unknown the claim must outlive the client's own delivery
# timeout (librdkafka's message.timeout.ms, 300 s by default).
_IN_DOUBT_LEASE_S = 330


def _reservation(ctx: EdgeContext, text: str) -> int:
    """Tokens pre-authorised for a turn: ~1 per 4 input bytes plus the output reserve."""
    return -(-len(text.encode("utf-8")) // 4) + ctx.edge.reserve_output_tokens


def _request_digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _last_event_id(request: Request, record: TurnRecord) -> int | None:
    return position_after(request.headers.get("last-event-id"), record, "Last-Event-ID")


def position_after(raw: str | None, record: TurnRecord, what: str) -> int | None:
    """The offset a client saw last (``"<partition>-<offset>"`` of ``record``'s
    partition), None when not given; 400 ``bad-last-event-id`` when malformed."""
    if raw is None or not raw.strip():
        return None
    position = parse_position(raw)
    if position is None or position[0] != record.partition:
        raise Problem(
            "bad-last-event-id",
            f"{what} {raw!r} is not a position on partition {record.partition} "
            f"of turn {record.turn}",
        )
    return position[1]


@dataclass
class Opened:
    """A turn's stream ready to run: the tailer subscription (released by the stream)
    and what the log held before it went live. ``origin``: this request started it."""

    record: TurnRecord
    sub: Subscription
    past: list[LoggedEvent]
    origin: bool
    replayed: bool = False


async def open_turn(ctx: EdgeContext, record: TurnRecord, *, replayed: bool = False) -> Opened:
    """Subscribe to an existing turn and read what it logged so far."""
    sub = ctx.tailer.subscribe(record.turn, record.session)
    try:
        past = await read_past(ctx, sub, record)
    except BaseException:
        ctx.tailer.unsubscribe(sub)
        raise
    return Opened(record, sub, past, origin=False, replayed=replayed)


def _sse(call: Call, opened: Opened, after: int | None) -> Response:
    headers = {
        "X-Turn-Id": opened.record.turn,
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
        "X-Trace-Id": call.trace_id,
    }
    if opened.replayed:
        headers["Idempotent-Replayed"] = "true"
    return StreamingResponse(
        turn_stream(call.ctx, opened.sub, opened.record, opened.past, after=after,
                    origin=opened.origin),
        media_type=MEDIA_TYPE,
        headers=headers,
    )


async def _replay(call: Call, claimed: str, digest: str) -> Opened:
    """The turn an earlier request with the same Idempotency-Key started."""
    prior = json.loads(claimed)
    if prior.get("request_sha256") != digest:
        raise Problem(
            "idempotency-key-reused",
            "Idempotency-Key was already used with a different request body",
        )
    call.turn = prior["turn_id"]
    deadline = time.monotonic() + _IDEM_WAIT_S
    while (record := await call.ctx.records.get(prior["turn_id"])) is None:
        if time.monotonic() > deadline:  # the first request is still appending, or failed
            raise throttled("rate-limited", "the first request with this key is in flight", 1)
        await asyncio.sleep(0.05)
    return await open_turn(call.ctx, record, replayed=True)


def admit(ctx: EdgeContext, lane: str) -> None:
    """Admission (503 ``overloaded``) of a turn in ``lane``: decided from in-memory
    estimates only, before any Redis, Postgres or Kafka round trip, so a refusal costs
    microseconds. ``batch`` is shed first, then ``interactive``."""
    decision = ctx.admission.admit(lane)
    if not decision.admits(lane):
        ctx.metrics.lane_shed.labels(lane).inc()
        raise throttled(
            "overloaded",
            f"edge is shedding the {lane} lane ({decision.reason}: utilisation "
            f"{decision.utilisation:.2f})",
            decision.retry_after_s, lane=lane,
        )


async def _guards(
    call: Call, claims: SessionClaims, body: dict[str, Any], turn: str
) -> tuple[int, Held]:
    """Rate limit, budget and the tenant's allowances; returns what was taken."""
    ctx = call.ctx
    tools = list((body.get("allow") or {}).get("tools") or [])
    if tools:
        # Check, don't take: the tool broker takes a slot per call in the same windows.
        rate = await ctx.limiter.peek(
            [rate_key(claims.tenant, t) for t in tools], claims.tools_per_min,
            ctx.edge.rate_window_ms,
        )
        if not rate.allowed:
            raise throttled(
                "rate-limited",
                f"{rate.key} allows {claims.tools_per_min} calls per "
                f"{ctx.edge.rate_window_ms // 1000}s",
                rate.retry_after_s,
            )
    want = _reservation(ctx, body["inputs"]["text"])
    budget = await ctx.budget.reserve(claims.session, want)
    if budget.status == "missing":
        raise Problem("session-not-found", f"session {claims.session} is unknown or expired")
    if not budget.reserved_ok:
        raise Problem(
            "budget-exhausted",
            f"session {claims.session} has {budget.remaining} tokens left; "
            f"this turn needs {want}",
            remaining_tokens=budget.remaining,
            required_tokens=want,
        )
    try:
        held = await take_tenant_allowance(ctx, claims, turn, want)
    except BaseException:
        await ctx.budget.settle(claims.session, want, 0)
        raise
    return want, held


def _turn_requested(
    call: Call, claims: SessionClaims, body: dict[str, Any], turn: str, idem: str | None
) -> dict[str, Any]:
    allow = body.get("allow") or {}
    tools = list(allow.get("tools") or []) if "tools" in allow else list(claims.tools)
    if claims.agent and not set(tools) <= set(claims.tools):
        raise Problem("forbidden", f"tools {sorted(set(tools) - set(claims.tools))} are not "
                      f"tools of agent {claims.agent}")
    capsules = body.get("capsule_ids")
    if capsules is None:
        capsules = list(claims.capsules)
    elif not set(capsules) <= set(claims.capsules):
        raise Problem("capsule-not-allowed",
                      f"capsules {sorted(set(capsules) - set(claims.capsules))} not in the session")
    return make_event(
        names.TURN_REQUESTED,
        {
            "turn_id": turn,
            "session_id": claims.session,
            "text": body["inputs"]["text"],
            "allow_tools": tools,
            "memory_mode": allow.get("memory", "none"),
            "idempotency_key": idem,
            "deadline_ms": call.ctx.edge.turn_deadline_ms,
            "capsule_ids": capsules,
            "agent": claims.agent,
            "agent_version": claims.agent_version,
            "tools_per_min": claims.tools_per_min,
            "lane": claims.lane,
        },
        tenant=claims.tenant,
        producer=PRODUCER,
        session=claims.session,
        turn=turn,
        trace_id=call.trace_id,
        seq=0,
        event_id=event_id(turn, names.TURN_REQUESTED),
    )


async def _remember_turn(ctx: EdgeContext, record: TurnRecord) -> None:
    """Write ``turn:{id}``. The turn is on the log already, so a failure here must not
    fail the request: the stream still works; only a later GET could not find the turn."""
    for attempt in range(3):
        try:
            await ctx.records.put(record)
            return
        except GuardUnavailable as exc:
            if attempt == 2:
                log.error("turn %s is on the log at %s-%s but unrecorded: %s",
                          record.turn, record.partition, record.offset, exc)
            else:
                await asyncio.sleep(0.1 * (attempt + 1))


def _record(ctx: EdgeContext, tenant: str, session: str, turn: str, trace_id: str,
            partition: int, offset: int) -> TurnRecord:
    requested_ms = now_us() // 1000
    return TurnRecord(turn, tenant, session, trace_id, partition, offset,
                      requested_ms, requested_ms + ctx.edge.turn_deadline_ms)


@dataclass(frozen=True)
class _Pending:
    """What an append of unknown fate holds until the broker answers."""

    claims: SessionClaims
    session: str
    turn: str
    trace_id: str
    reserved: int
    claim_key: str | None
    claim_value: str
    held: Held | None = None


async def _extend_claim(ctx: EdgeContext, key: str | None, value: str, ttl_s: int) -> None:
    """Best effort: a claim that cannot be extended keeps its lease (the engine still
    runs one turn per key, see ``TurnRequestClaims``)."""
    if key is None:
        return
    try:
        await ctx.idempotency.extend(key, value, ttl_s)
    except GuardUnavailable as exc:
        log.warning("could not extend %s to %ss: %s", key, ttl_s, exc)


async def _settle_in_doubt(ctx: EdgeContext, exc: AppendInDoubt, pending: _Pending) -> None:
    """Wait for the broker's final answer on a ``TurnRequested`` of unknown fate.

    Appended after all: the turn runs, so record it (a retry with the same
    Idempotency-Key, which still finds its claim, then joins this turn). Refused:
    give back the claim and the reserved tokens, as for any rejected request.
    """
    try:
        positions = await exc.outcome
    except Exception as failure:
        log.warning("turn %s was not appended after all: %s", pending.turn, failure)
        if pending.reserved:
            await ctx.budget.settle(pending.claims.session, pending.reserved, 0)
        await give_back(ctx, pending.held)
        if pending.claim_key is not None:
            await ctx.idempotency.release(pending.claim_key, pending.claim_value)
        return
    partition, offset = positions[0]
    log.warning("turn %s was appended late at %s-%s; a retry with its key joins it",
                pending.turn, partition, offset)
    await _remember_turn(ctx, _record(ctx, pending.claims.tenant, pending.session, pending.turn,
                                      pending.trace_id, partition, offset))
    await _extend_claim(ctx, pending.claim_key, pending.claim_value, ctx.edge.idempotency_ttl_s)


@endpoint("/v1/turn")
async def post_turn(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)

    async def start() -> Opened:
        body = await read_json(request, TURN_REQUEST, call.ctx.edge.max_body_bytes)
        return await begin_turn(call, claims, body, request.headers.get("idempotency-key"))

    return _sse(call, await admitted_turn(call, claims, start), None)


async def admitted_turn(
    call: Call, claims: SessionClaims, start: Callable[[], Awaitable[Opened]]
) -> Opened:
    """Admission for the turn ``start`` begins (the body, the guards, the append): its
    arrival is counted when admitted and taken back when no new turn started (a
    refusal, or a replay of the turn an earlier request with the same key started).
    An append of unknown fate stays counted: the turn may run."""
    admit(call.ctx, claims.lane)
    try:
        opened = await start()
    except Problem as exc:
        if "turn_id" not in exc.extensions:  # not an in-doubt append
            call.ctx.admission.withdraw()
        raise
    except BaseException:
        call.ctx.admission.withdraw()
        raise
    if not opened.origin:
        call.ctx.admission.withdraw()
    return opened


async def begin_turn(
    call: Call, claims: SessionClaims, body: dict[str, Any], idem: str | None
) -> Opened:
    """The guards after the token, admission and body (see the module doc), then the
    append: a new turn, or the turn an earlier request with ``idem`` started. Shared by
    ``POST /v1/turn`` and the WebSocket edge, so both refuse exactly the same way."""
    ctx = call.ctx
    session = str(uuid.UUID(body["session_id"]))
    await owned_session(call, claims, session)
    if claims.agent and await ctx.redis.exists(f"agent:revoked:{claims.agent}"):
        raise Problem("agent-revoked", f"agent {claims.agent} was revoked; no new turns")
    if idem is not None and not 1 <= len(idem) <= 255:
        raise Problem("invalid-body", "Idempotency-Key must be 1..255 characters")
    turn = str(uuid.uuid4())
    event = _turn_requested(call, claims, body, turn, idem)
    digest = _request_digest(body)
    claim_key = idem_key("turn", claims.tenant, idem) if idem else None
    claim_value = json.dumps({"turn_id": turn, "request_sha256": digest})
    if claim_key is not None:
        claimed = await ctx.idempotency.claim(claim_key, claim_value, _IDEM_LEASE_S)
        if claimed is not None:
            return await _replay(call, claimed, digest)
    call.turn = turn
    reserved = 0
    held: Held | None = None
    sub = None
    try:
        reserved, held = await _guards(call, claims, body, turn)
        sub = ctx.tailer.subscribe(turn, session)
        partition, offset = await ctx.appender.append(event)
    except AppendInDoubt as exc:
        ctx.tailer.unsubscribe(sub)  # type: ignore[arg-type]  # set before the append
        pending = _Pending(claims, session, turn, call.trace_id, reserved, claim_key, claim_value,
                           held)
        await _extend_claim(ctx, pending.claim_key, claim_value, _IN_DOUBT_LEASE_S)
        ctx.background(_settle_in_doubt(ctx, exc, pending), f"in-doubt turn {turn}")
        raise Problem(
            "dependency-unavailable",
            f"the turn request was not acknowledged in time and may still start turn {turn}; "
            "retry with the same Idempotency-Key to join it",
            headers={"Retry-After": "2"}, retry_after_s=2, turn_id=turn,
        ) from exc
    except BaseException:
        if sub is not None:
            ctx.tailer.unsubscribe(sub)
        if reserved:
            await ctx.budget.settle(claims.session, reserved, 0)
        await give_back(ctx, held)
        if claim_key is not None:
            await ctx.idempotency.release(claim_key, claim_value)
        raise
    record = _record(ctx, claims.tenant, session, turn, call.trace_id, partition, offset)
    await _remember_turn(ctx, record)
    await _extend_claim(ctx, claim_key, claim_value, ctx.edge.idempotency_ttl_s)
    return Opened(record, sub, [], origin=True)


async def _owned_turn(request: Request, call: Call) -> TurnRecord:
    claims = await session_token(request, call)
    turn = canonical_uuid(request.path_params["turn_id"], "path")
    call.turn = turn
    record = await call.ctx.records.get(turn)
    # Another tenant's turn is reported exactly like a missing one: no existence leak.
    if record is None or record.tenant != claims.tenant:
        raise Problem("turn-not-found", f"turn {turn} not found")
    return record


@endpoint("/v1/turns/{turn_id}/events")
async def turn_events(request: Request, call: Call) -> Response:
    record = await _owned_turn(request, call)
    after = _last_event_id(request, record)
    return _sse(call, await open_turn(call.ctx, record), after)


@endpoint("/v1/turns/{turn_id}/cancel")
async def cancel_turn(request: Request, call: Call) -> Response:
    record = await _owned_turn(request, call)
    ctx = call.ctx
    body = await read_json(request, CANCEL_REQUEST, ctx.edge.max_body_bytes, optional=True)
    position = await append_cancel(ctx, record, body.get("reason"))
    return JSONResponse(
        {"turn_id": record.turn, "status": "cancel-requested", "position": position},
        status_code=202,
    )


async def append_cancel(ctx: EdgeContext, record: TurnRecord, reason: str | None) -> str:
    """Append ``TurnCancelRequested`` (one per turn: its event id is the turn's);
    its position ``"<partition>-<offset>"``."""
    partition, offset = await ctx.appender.append(
        make_event(
            names.TURN_CANCEL_REQUESTED,
            {"reason": reason or "cancelled by client"},
            tenant=record.tenant,
            producer=PRODUCER,
            session=record.session,
            turn=record.turn,
            trace_id=record.trace_id,
            seq=0,
            event_id=event_id(record.turn, names.TURN_CANCEL_REQUESTED),
        )
    )
    return f"{partition}-{offset}"
