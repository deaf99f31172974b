"""``POST /v1/brain/evaluate`` and ``POST /v1/brain/feedback`` for the token's tenant.

Both go to the Memory Gateway's brain with the service credential, like
``/v1/memory/recall``. Evaluate answers the ContextBundle (ranked evidence with
provenance, scores and confidence; the session's policy directives; the prompt);
capsules follow the recall rules (only the session's, 403 otherwise). Feedback
marks which evidence of a bundle was useful; the gateway appends the event and
answers the updated weights. Bad input is problem+json and changes nothing:
unknown bundle 404 ``bundle-not-found``, ids that were not candidates 422
``unknown-evidence``, weights outside the bounds 422 ``weights-out-of-bounds``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.auth import session_token
from somagent.api.bodies import read_json
from somagent.api.call import Call, endpoint
from somagent.api.problems import Problem
from somagent.api.routes_memory import _unavailable, read_scope
from somagent.api.session_tokens import SessionClaims
from somagent.exceptions import SomagentError
from somagent.memory.client import MemoryGatewayError

EVALUATE_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["query"],
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 8192},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 50},
        "capsule_ids": {"type": "array", "items": {"type": "string", "minLength": 1,
                                                   "maxLength": 128}, "maxItems": 100},
        "weights": {"type": "array", "items": {"type": "number"}, "minItems": 7, "maxItems": 7},
    },
}
FEEDBACK_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["bundle_id", "useful"],
    "properties": {
        "bundle_id": {"type": "string", "minLength": 36, "maxLength": 36},
        "useful": {"type": "array", "items": {"type": "string", "minLength": 1,
                                              "maxLength": 128}, "minItems": 1, "maxItems": 50},
    },
}


def directives(claims: SessionClaims) -> list[str]:
    """The session's policy directives (no constitution exists yet): its policy and
    persona hashes, budgets and capsules."""
    out = [
        f"policy {claims.policy_hash}", f"persona {claims.persona_hash}",
        f"token budget {claims.token_budget}", f"tool calls per minute {claims.tools_per_min}",
        "cite evidence as [mem:<id>]; never reveal pii:<token> values",
    ]
    if claims.capsules:
        out.append(f"capsules {', '.join(claims.capsules)}")
    return out


def _problem(exc: SomagentError) -> Problem:
    """The gateway's rejection as the edge's problem (same slug, same status)."""
    text = str(exc)
    if isinstance(exc, MemoryGatewayError) and exc.status == 404:
        return Problem("bundle-not-found", text)
    if "outside the bounds" in text:
        return Problem("weights-out-of-bounds", text)
    if "are not candidates" in text:
        return Problem("unknown-evidence", text)
    if isinstance(exc, ValueError):
        return Problem("invalid-body", text)
    return _unavailable(exc)


@endpoint("/v1/brain/evaluate")
async def evaluate(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)
    body = await read_json(request, EVALUATE_REQUEST, call.ctx.edge.max_body_bytes)
    capsules = await read_scope(call, claims, body)
    try:
        bundle = await call.ctx.memory.evaluate_bundle(
            claims.tenant, body["query"], int(body.get("top_k", 5)), capsules,
            directives=directives(claims), weights=body.get("weights"),
        )
    except (ValueError, MemoryGatewayError) as exc:
        raise _problem(exc) from exc  # type: ignore[arg-type]
    except SomagentError as exc:
        raise _unavailable(exc) from exc
    return JSONResponse(bundle)


@endpoint("/v1/brain/feedback")
async def feedback(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)
    body = await read_json(request, FEEDBACK_REQUEST, call.ctx.edge.max_body_bytes)
    try:
        answer = await call.ctx.memory.feedback(
            claims.tenant, body["bundle_id"], body["useful"], trace_id=call.trace_id
        )
    except (ValueError, MemoryGatewayError) as exc:
        raise _problem(exc) from exc  # type: ignore[arg-type]
    except SomagentError as exc:
        raise _unavailable(exc) from exc
    return JSONResponse(answer)
