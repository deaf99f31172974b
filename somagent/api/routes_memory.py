"""``POST /v1/memory/recall`` and ``POST /v1/memory/remember`` for the token's tenant.

Capsules: a request may name only capsules its session token allows
(403 ``capsule-not-allowed``); without ``capsule_ids`` a recall uses the
session's capsules, or the whole tenant when the session has none.
Remember is event-sourced: the edge appends ``MemoryRememberRequested``
(redacted by the remember guard) and answers 202 with the memory id; the guard
and projector decide and store it (see docs/memory.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.auth import session_token
from somagent.api.bodies import RECALL_REQUEST, REMEMBER_REQUEST, read_json
from somagent.api.call import PRODUCER, Call, endpoint
from somagent.api.problems import Problem
from somagent.api.session_tokens import SessionClaims
from somagent.events.envelope import make_event, now_us, random_event_id
from somagent.exceptions import SomagentError


def _check_capsules(claims: SessionClaims, wanted: Iterable[str]) -> None:
    outside = sorted(set(wanted) - set(claims.capsules))
    if outside:
        raise Problem("capsule-not-allowed", f"capsules {outside} are not allowed for "
                      f"session {claims.session}")


@endpoint("/v1/memory/recall")
async def recall(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)
    body = await read_json(request, RECALL_REQUEST, call.ctx.edge.max_body_bytes)
    capsules = body.get("capsule_ids")
    if capsules is not None:
        _check_capsules(claims, capsules)
    elif claims.capsules:
        capsules = list(claims.capsules)
    deps = await asyncio.to_thread(call.ctx.memory)
    try:
        blocks = await deps.recaller.recall(
            claims.tenant, body["query"], int(body.get("top_k", 5)), capsules
        )
    except ValueError as exc:  # InvalidRecallRequest
        raise Problem("invalid-body", str(exc)) from exc
    except SomagentError as exc:  # MemoryStoreError and friends: the store failed
        raise Problem("dependency-unavailable", f"memory store failed: {exc}",
                      headers={"Retry-After": "1"}, retry_after_s=1) from exc
    return JSONResponse({"evidence": [b.to_dict() for b in blocks]})


@endpoint("/v1/memory/remember")
async def remember(request: Request, call: Call) -> Response:
    from somagent.memory.guard import RememberRequest
    from somagent.memory.remember import MEMORY_REMEMBER_REQUESTED, requested_payload

    claims = await session_token(request, call)
    body = await read_json(request, REMEMBER_REQUEST, call.ctx.edge.max_body_bytes)
    capsule = body.get("capsule_id")
    if capsule is not None:
        _check_capsules(claims, [capsule])
    deps = await asyncio.to_thread(call.ctx.memory)
    request_id = random_event_id()
    payload = requested_payload(
        deps.guard,
        RememberRequest(
            tenant=claims.tenant,
            text=body["text"],
            created_at_us=now_us(),
            source="api",
            capsule_id=capsule,
            trace_id=call.trace_id,
            request_id=str(request_id),
            reason=body.get("reason", ""),
        ),
    )
    partition, offset = await call.ctx.appender.append(
        make_event(
            MEMORY_REMEMBER_REQUESTED,
            payload,
            tenant=claims.tenant,
            producer=PRODUCER,
            session=claims.session,
            trace_id=call.trace_id,
            event_id=request_id,
        )
    )
    return JSONResponse(
        {
            "memory_id": payload["memory_id"],
            "request_id": str(request_id),
            "status": "requested",
            "position": f"{partition}-{offset}",
        },
        status_code=202,
    )
