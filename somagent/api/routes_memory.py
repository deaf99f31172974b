"""``POST /v1/memory/recall`` and ``POST /v1/memory/remember`` for the token's tenant.

Capsules: a request may name only capsules its session token allows
(403 ``capsule-not-allowed``); without ``capsule_ids`` a recall uses the
session's capsules, or the whole tenant when the session has none (then blocks of
capsules, which the session does not name, are left out).
Both go to the Memory Gateway (the one owner of the vector store) with the
service credential. Remember is event-sourced: the gateway appends
``MemoryRememberRequested`` (redacted by the remember guard) and the edge answers
202 with the memory id and its log position; the gateway's guard and projector
decide and store it (see docs/memory.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.auth import session_token
from somagent.api.bodies import RECALL_REQUEST, REMEMBER_REQUEST, read_json
from somagent.api.call import Call, endpoint
from somagent.api.problems import Problem
from somagent.api.session_tokens import SessionClaims
from somagent.artifacts.capsules import meter_reads
from somagent.events.envelope import random_event_id
from somagent.exceptions import SomagentError
from somagent.memory.exceptions import MemoryPolicyDenied
from somagent.policy.read_check import check_recall


def _check_capsules(claims: SessionClaims, wanted: Iterable[str]) -> None:
    outside = sorted(set(wanted) - set(claims.capsules))
    if outside:
        raise Problem("capsule-not-allowed", f"capsules {outside} are not allowed for "
                      f"session {claims.session}")


async def read_scope(call: Call, claims: SessionClaims, body: dict[str, Any]) -> list[str] | None:
    """The capsules a memory read may search (None: the tenant's own memory), once the
    session may read them: capsules outside its token are refused (403), and so is a
    read its policy denies (``memory.read``, decided by OPA). Every route that returns
    memory evidence (recall, the brain's evaluate) goes through here."""
    capsules: list[str] | None = body.get("capsule_ids")
    if capsules is not None:
        _check_capsules(claims, capsules)
    elif claims.capsules:
        capsules = list(claims.capsules)
    await check_recall(call.ctx, claims.tenant, claims.policy_hash, list(capsules or []))
    return capsules


@endpoint("/v1/memory/recall")
async def recall(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)
    body = await read_json(request, RECALL_REQUEST, call.ctx.edge.max_body_bytes)
    capsules = await read_scope(call, claims, body)
    try:
        blocks = await call.ctx.memory.recall(
            claims.tenant, body["query"], int(body.get("top_k", 5)), capsules
        )
    except ValueError as exc:  # InvalidRecallRequest
        raise Problem("invalid-body", str(exc)) from exc
    except SomagentError as exc:  # the gateway or its store failed
        raise _unavailable(exc) from exc
    # Only capsules in the token's capsules claim are searchable: a tenant-wide recall
    # (a session without capsules) drops capsule blocks. Reads are metered and audited
    # per capsule (issue 15).
    allowed = set(claims.capsules)
    blocks = [b for b in blocks if b.capsule_id is None or b.capsule_id in allowed]
    await meter_reads(call, claims.tenant, claims.session, blocks)
    return JSONResponse({"evidence": [b.to_dict() for b in blocks]})


def _unavailable(exc: SomagentError) -> Problem:
    return Problem("dependency-unavailable", f"memory gateway failed: {exc}",
                   headers={"Retry-After": "1"}, retry_after_s=1)


@endpoint("/v1/memory/remember")
async def remember(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)
    body = await read_json(request, REMEMBER_REQUEST, call.ctx.edge.max_body_bytes)
    capsule = body.get("capsule_id")
    if capsule is not None:
        _check_capsules(claims, [capsule])
    try:
        receipt = await call.ctx.memory.remember(
            claims.tenant,
            body["text"],
            source="api",
            trace_id=call.trace_id,
            capsule_id=capsule,
            session=claims.session,
            reason=body.get("reason", ""),
            request_id=str(random_event_id()),
        )
    except MemoryPolicyDenied as exc:  # the session's policy (the gateway audited it too)
        raise Problem("policy-denied", str(exc), policy_hash=exc.policy_hash,
                      rule=exc.rule) from exc
    except ValueError as exc:  # InvalidRememberRequest: nothing was appended
        raise Problem("invalid-body", str(exc)) from exc
    except SomagentError as exc:
        raise _unavailable(exc) from exc
    return JSONResponse(
        {
            "memory_id": receipt.memory_id,
            "request_id": receipt.request_id,
            "status": receipt.status,
            "position": receipt.position,
        },
        status_code=202,
    )
