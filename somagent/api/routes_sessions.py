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
from somagent.artifacts.minting import agent_grant, refuse_revoked_capsules
from somagent.contract import names
from somagent.contract.ids import session_event_id
from somagent.events.envelope import make_event
from somagent.plans.limits import clamp
from somagent.policy.mint_check import check_mint


@endpoint("/v1/session/mint")
async def mint_session(request: Request, call: Call) -> Response:
    """Mint a session for the key's tenant.

    The session's policy must be active and allow the budgets and capsules
    (:func:`~somagent.policy.mint_check.check_mint`). The requested budgets and lane
    are clamped to the tenant's plan limits and the policy's lane
    (:func:`somagent.plans.limits.clamp`); the
    answer states the granted ``budgets`` and ``lane`` and lists in ``clamped`` what
    was lowered.

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
    grant = await agent_grant(ctx, tenant.tenant_id, body["agent"]) if "agent" in body else None
    if grant is not None:  # the installed version's hashes win; others must not disagree
        for name in ("persona_hash", "policy_hash"):
            if body.setdefault(name, getattr(grant, name)) != getattr(grant, name):
                raise Problem("invalid-body", f"{name} differs from agent {grant.agent_id}'s")
    capsules = list(dict.fromkeys([*(body.get("capsule_ids") or []),
                                   *(grant.capsules if grant else ())]))
    allow = list(body.get("allow") or [])
    if not set(allow) <= set(capsules):
        outside = sorted(set(allow) - set(capsules))
        raise Problem("capsule-not-allowed", f"allow names capsules {outside} that the "
                      "session does not hold")
    await refuse_revoked_capsules(ctx, capsules)
    policy_lane = await check_mint(ctx, tenant.tenant_id, body["policy_hash"], body["budgets"],
                                   capsules)
    ttl_s = ctx.edge.session_ttl_s
    session = str(uuid.uuid4())
    call.session = session
    now_s = int(time.time())
    limits = tenant.plan_limits()
    granted = clamp(limits, int(body["budgets"]["tokens"]), int(body["budgets"]["tools_per_min"]),
                    body.get("lane"), policy_lane)
    budgets = {"tokens": granted.tokens, "tools_per_min": granted.tools_per_min}
    await ctx.budget.open(
        session,
        int(budgets["tokens"]),
        ttl_s,
        {
            "tenant": tenant.tenant_id,
            "tools_per_min": int(budgets["tools_per_min"]),
            "lane": granted.lane,
            "persona_hash": body["persona_hash"],
            "policy_hash": body["policy_hash"],
            "capsule_ids": ",".join(capsules),
            "expires_at": now_s + ttl_s,
            **({"agent": grant.agent_id, "agent_version": grant.version} if grant else {}),
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
        allow=allow,
        agent=grant.claim() if grant else None,
        lane=granted.lane,
        region=tenant.residency,
        tenant_limits={"tokens_per_min": limits.tokens_per_min,
                       "concurrent_turns": limits.concurrent_turns},
    )
    answer: dict[str, object] = {
        "jwt": token, "expires_in": ttl_s, "session_id": session,
        "budgets": budgets, "lane": granted.lane, "clamped": list(granted.lowered),
    }
    if grant is not None:
        answer["agent"] = {**grant.claim(), "capsules": list(grant.capsules)}
    return JSONResponse(answer)
