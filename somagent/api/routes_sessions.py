"""``POST /v1/session/mint``: API key in, signed session token out."""

from __future__ import annotations

import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.auth import api_key_tenant
from somagent.api.bodies import MINT_REQUEST, read_json
from somagent.api.call import PRODUCER, Call, endpoint
from somagent.api.problems import Problem
from somagent.api.session_tokens import mint
from somagent.contract import names
from somagent.contract.ids import session_event_id
from somagent.events.envelope import make_event


@endpoint("/v1/session/mint")
async def mint_session(request: Request, call: Call) -> Response:
    """Mint a session for the key's tenant.

    Writes ``sess:{session}`` (budgets, hashes, capsules; TTL = token lifetime)
    and appends ``SessionMinted`` (waiting for the broker's acknowledgement)
    before answering, so a token is never handed out for an unrecorded session.
    """
    tenant = await api_key_tenant(request, call)
    body = await read_json(request, MINT_REQUEST, call.ctx.edge.max_body_bytes)
    if str(uuid.UUID(body["tenant"])) != tenant.tenant_id:
        raise Problem("forbidden", f"API key belongs to tenant {tenant.tenant_id}, "
                      f"not {body['tenant']}")
    ctx = call.ctx
    ttl_s = ctx.edge.session_ttl_s
    session = str(uuid.uuid4())
    call.session = session
    now_s = int(time.time())
    budgets = body["budgets"]
    capsules = list(body.get("capsule_ids") or [])
    await ctx.budget.open(
        session,
        int(budgets["tokens"]),
        ttl_s,
        {
            "tenant": tenant.tenant_id,
            "tools_per_min": int(budgets["tools_per_min"]),
            "persona_hash": body["persona_hash"],
            "policy_hash": body["policy_hash"],
            "capsule_ids": ",".join(capsules),
            "expires_at": now_s + ttl_s,
        },
    )
    await ctx.appender.append(
        make_event(
            names.SESSION_MINTED,
            {
                "session_id": session,
                "persona_hash": body["persona_hash"],
                "policy_hash": body["policy_hash"],
                "token_budget": int(budgets["tokens"]),
                "tools_per_min": int(budgets["tools_per_min"]),
                "capsule_ids": capsules,
                "expires_at": (now_s + ttl_s) * 1_000_000,
            },
            tenant=tenant.tenant_id,
            producer=PRODUCER,
            session=session,
            trace_id=call.trace_id,
            event_id=session_event_id(session, names.SESSION_MINTED),
        )
    )
    token = mint(
        ctx.keyring,
        tenant=tenant.tenant_id,
        session=session,
        persona_hash=body["persona_hash"],
        policy_hash=body["policy_hash"],
        token_budget=int(budgets["tokens"]),
        tools_per_min=int(budgets["tools_per_min"]),
        capsules=capsules,
        ttl_s=ttl_s,
        now_s=now_s,
    )
    return JSONResponse(
        {"jwt": token, "expires_in": ttl_s, "session_id": session}
    )
