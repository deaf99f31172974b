"""``POST /v1/turn``, ``GET /v1/turns/{id}/events``, ``POST /v1/turns/{id}/cancel``.

Guards on a new turn, in order: token (401), body (415/413/400/422), session
ownership (404/403), Idempotency-Key replay (same turn and stream), admission
(503), rate limit (429: a tool the turn allows has no room left in its
``rate:{tenant}:{tool}`` window of ``tools_per_min``; the edge only looks, the
tool broker takes a slot per call), token pre-authorisation (402). Only
then is ``TurnRequested`` appended; a rejected request appends no turn events
(and gives back its idempotency claim so the client can retry).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
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
from somagent.api.turn_stream import read_past, turn_stream
from somagent.contract import names
from somagent.contract.ids import event_id
from somagent.events.envelope import make_event, now_us
from somagent.limits.exceptions import GuardUnavailable
from somagent.limits.idempotency import idem_key
from somagent.limits.ratelimit import rate_key

log = logging.getLogger(__name__)

_IDEM_WAIT_S = 10.0


def _reservation(ctx: EdgeContext, text: str) -> int:
    """Tokens pre-authorised for a turn: ~1 per 4 input bytes plus the output reserve."""
    return -(-len(text.encode("utf-8")) // 4) + ctx.edge.reserve_output_tokens


def _request_digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _last_event_id(request: Request, record: TurnRecord) -> int | None:
    raw = request.headers.get("last-event-id")
    if raw is None or not raw.strip():
        return None
    position = parse_position(raw)
    if position is None or position[0] != record.partition:
        raise Problem(
            "bad-last-event-id",
            f"Last-Event-ID {raw!r} is not a position on partition {record.partition} "
            f"of turn {record.turn}",
        )
    return position[1]


async def _stream(
    request: Request, call: Call, record: TurnRecord, *, origin: bool, replayed: bool = False
) -> Response:
    ctx = call.ctx
    after = _last_event_id(request, record)
    sub = ctx.tailer.subscribe(record.turn, record.session)
    try:
        past = await read_past(ctx, sub, record)
    except BaseException:
        ctx.tailer.unsubscribe(sub)
        raise
    headers = {
        "X-Turn-Id": record.turn,
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
        "X-Trace-Id": call.trace_id,
    }
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return StreamingResponse(
        turn_stream(ctx, sub, record, past, after=after, origin=origin),
        media_type=MEDIA_TYPE,
        headers=headers,
    )


async def _replay(request: Request, call: Call, claimed: str, digest: str) -> Response:
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
    return await _stream(request, call, record, origin=False, replayed=True)


async def _guards(call: Call, claims: SessionClaims, body: dict[str, Any]) -> int:
    """Admission, rate limit and budget; returns the tokens reserved."""
    ctx = call.ctx
    decision = ctx.admission.decide()
    if not decision.admit:
        raise throttled(
            "overloaded",
            f"edge is shedding load ({decision.reason}: utilisation {decision.utilisation:.2f})",
            decision.retry_after_s,
        )
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
    return want


def _turn_requested(
    call: Call, claims: SessionClaims, body: dict[str, Any], turn: str, idem: str | None
) -> dict[str, Any]:
    allow = body.get("allow") or {}
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
            "allow_tools": list(allow.get("tools") or []),
            "memory_mode": allow.get("memory", "none"),
            "idempotency_key": idem,
            "deadline_ms": call.ctx.edge.turn_deadline_ms,
            "capsule_ids": capsules,
            "tools_per_min": claims.tools_per_min,
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


@endpoint("/v1/turn")
async def post_turn(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)
    ctx = call.ctx
    body = await read_json(request, TURN_REQUEST, ctx.edge.max_body_bytes)
    session = str(uuid.UUID(body["session_id"]))
    await owned_session(call, claims, session)
    idem = request.headers.get("idempotency-key")
    if idem is not None and not 1 <= len(idem) <= 255:
        raise Problem("invalid-body", "Idempotency-Key must be 1..255 characters")
    turn = str(uuid.uuid4())
    event = _turn_requested(call, claims, body, turn, idem)
    digest = _request_digest(body)
    claim_key = idem_key("turn", claims.tenant, idem) if idem else None
    claim_value = json.dumps({"turn_id": turn, "request_sha256": digest})
    if claim_key is not None:
        claimed = await ctx.idempotency.claim(claim_key, claim_value, ctx.edge.idempotency_ttl_s)
        if claimed is not None:
            return await _replay(request, call, claimed, digest)
    call.turn = turn
    reserved = 0
    sub = None
    try:
        reserved = await _guards(call, claims, body)
        sub = ctx.tailer.subscribe(turn, session)
        partition, offset = await ctx.appender.append(event)
    except BaseException:
        if sub is not None:
            ctx.tailer.unsubscribe(sub)
        if reserved:
            await ctx.budget.settle(claims.session, reserved, 0)
        if claim_key is not None:
            await ctx.idempotency.release(claim_key, claim_value)
        raise
    requested_ms = now_us() // 1000
    record = TurnRecord(
        turn, claims.tenant, session, call.trace_id, partition, offset,
        requested_ms, requested_ms + ctx.edge.turn_deadline_ms,
    )
    await _remember_turn(ctx, record)
    ctx.admission.admitted()
    headers = {
        "X-Turn-Id": turn,
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
        "X-Trace-Id": call.trace_id,
    }
    return StreamingResponse(
        turn_stream(ctx, sub, record, [], origin=True), media_type=MEDIA_TYPE, headers=headers
    )


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
    return await _stream(request, call, record, origin=False)


@endpoint("/v1/turns/{turn_id}/cancel")
async def cancel_turn(request: Request, call: Call) -> Response:
    record = await _owned_turn(request, call)
    ctx = call.ctx
    body = await read_json(request, CANCEL_REQUEST, ctx.edge.max_body_bytes, optional=True)
    partition, offset = await ctx.appender.append(
        make_event(
            names.TURN_CANCEL_REQUESTED,
            {"reason": body.get("reason") or "cancelled by client"},
            tenant=record.tenant,
            producer=PRODUCER,
            session=record.session,
            turn=record.turn,
            trace_id=record.trace_id,
            seq=0,
            event_id=event_id(record.turn, names.TURN_CANCEL_REQUESTED),
        )
    )
    return JSONResponse(
        {"turn_id": record.turn, "status": "cancel-requested", "position": f"{partition}-{offset}"},
        status_code=202,
    )
