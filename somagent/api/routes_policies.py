"""The constitution's routes (operator credential only):

* ``POST /v1/policies`` — the body is a policy document (docs/policy.md); 201
  ``{policy_hash, status: "registered", ...}`` (200 with the stored state when that
  exact document is already registered); 422 ``invalid-policy`` listing every schema
  violation, or OPA's message for Rego it refuses — nothing stored.
* ``GET /v1/policies/{hash}`` — state, document, the keys that signed.
* ``POST /v1/policies/{hash}/signatures`` ``{key_id, signature}`` — one constitution
  key's Ed25519 signature over ``somagent-policy-activation:v1:<hash>``; the k-th
  distinct valid one activates the policy (pushed to OPA). 422 ``signature-invalid``
  (unknown key or bad signature), 403 ``policy-revoked``, 404 ``policy-not-found``.
* ``POST /v1/policies/{hash}/revoke`` ``{reason?}`` — terminal; removed from OPA.
"""

from __future__ import annotations

import re
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.bodies import read_json
from somagent.api.call import Call, endpoint
from somagent.api.problems import Problem
from somagent.artifacts.access import principal
from somagent.policy import registry
from somagent.policy.document import HASH_RE
from somagent.policy.exceptions import (
    InvalidPolicy,
    PolicyEngineUnavailable,
    PolicyStateConflict,
    SignatureInvalid,
    UnknownPolicy,
)

MAX_POLICY_BYTES: Final = 256 * 1024
ANY_OBJECT: Final[dict[str, Any]] = {"type": "object"}
SIGNATURE_BODY: Final[dict[str, Any]] = {
    "type": "object", "additionalProperties": False, "required": ["key_id", "signature"],
    "properties": {"key_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
                   "signature": {"type": "string", "pattern": "^[A-Za-z0-9_-]{86}$"}},
}
REVOKE_BODY: Final[dict[str, Any]] = {
    "type": "object", "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 500}},
}
_HASH = re.compile(HASH_RE)


async def _operator(request: Request, call: Call) -> None:
    who = await principal(request, call)
    if who.kind != "operator":
        raise Problem("forbidden", "policies are managed with the operator credential")


def _hash(request: Request) -> str:
    hash_ = str(request.path_params["policy_hash"])
    if not _HASH.match(hash_):
        raise Problem("policy-not-found", f"{hash_!r} is not a policy hash (sha256-<64 hex>)")
    return hash_


def _engine_problem(exc: PolicyEngineUnavailable) -> Problem:
    return Problem("dependency-unavailable", f"the policy engine did not answer: {exc}",
                   headers={"Retry-After": "1"}, retry_after_s=1)


def _counts(call: Call) -> dict[str, int]:
    c = call.ctx.policies.constitution
    return {"k": c.k, "n": c.n}


@endpoint("/v1/policies")
async def register_policy(request: Request, call: Call) -> Response:
    await _operator(request, call)
    body = await read_json(request, ANY_OBJECT, MAX_POLICY_BYTES)
    try:
        row, created = await call.ctx.policies.register(body, "operator", call.trace_id)
    except InvalidPolicy as exc:
        raise Problem("invalid-policy", str(exc), errors=exc.errors) from exc
    except PolicyEngineUnavailable as exc:
        raise _engine_problem(exc) from exc
    return JSONResponse({**row.summary(), **_counts(call)}, status_code=201 if created else 200)


@endpoint("/v1/policies/{policy_hash}")
async def policy_detail(request: Request, call: Call) -> Response:
    await _operator(request, call)
    hash_ = _hash(request)
    async with call.ctx.pg.acquire() as conn:
        row = await registry.policy(conn, hash_)
        signed = await registry.signers(conn, hash_)
    if row is None:
        raise Problem("policy-not-found", f"no policy {hash_} is registered")
    return JSONResponse({**row.summary(signed), **_counts(call), "document": row.document})


@endpoint("/v1/policies/{policy_hash}/signatures")
async def sign_policy(request: Request, call: Call) -> Response:
    await _operator(request, call)
    hash_ = _hash(request)
    body = await read_json(request, SIGNATURE_BODY, 4096)
    try:
        row, signed = await call.ctx.policies.sign(hash_, body["key_id"], body["signature"],
                                                   call.trace_id)
    except UnknownPolicy as exc:
        raise Problem("policy-not-found", str(exc)) from exc
    except SignatureInvalid as exc:
        raise Problem("signature-invalid", str(exc)) from exc
    except PolicyStateConflict as exc:
        raise Problem("policy-revoked", str(exc), policy_hash=hash_,
                      rule="policy-revoked") from exc
    except PolicyEngineUnavailable as exc:
        raise _engine_problem(exc) from exc
    return JSONResponse({**row.summary(signed), **_counts(call)})


@endpoint("/v1/policies/{policy_hash}/revoke")
async def revoke_policy(request: Request, call: Call) -> Response:
    await _operator(request, call)
    hash_ = _hash(request)
    body = await read_json(request, REVOKE_BODY, 4096, optional=True)
    try:
        row = await call.ctx.policies.revoke(hash_, str(body.get("reason") or ""), "operator",
                                             call.trace_id)
    except UnknownPolicy as exc:
        raise Problem("policy-not-found", str(exc)) from exc
    except PolicyEngineUnavailable as exc:
        raise _engine_problem(exc) from exc
    return JSONResponse(row.summary())
