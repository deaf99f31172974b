"""Mint's policy check: the session's ``policy_hash`` must name an active policy whose
rules allow the requested budgets and capsules.

Refusals (RFC 9457, raised before anything is written, each naming the hash and
rule so the edge's ``PolicyDenied`` carries them): 403 ``policy-unknown`` (never
registered), ``policy-not-active`` (fewer than k constitution signatures),
``policy-revoked``, ``policy-denied`` (an OPA rule such as
``token-budget-over-cap``); OPA unreachable is 503 ``dependency-unavailable``.
The status comes from Postgres (immediate on revocation); the rules from OPA.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from somagent.api.context import EdgeContext
from somagent.api.problems import Problem
from somagent.policy import registry
from somagent.policy.exceptions import PolicyEngineUnavailable

POINT = "mint"
_STATUS = {"registered": ("policy-not-active", "is registered but not signed by k of the "
                          "constitution keys"),
           "revoked": ("policy-revoked", "was revoked")}


async def check_mint(ctx: EdgeContext, tenant: str, policy_hash: str,
                     budgets: Mapping[str, Any], capsules: list[str]) -> str | None:
    """Return the policy's QoS lane (its ceiling for the session) if a session under
    ``policy_hash`` may be minted; raise the Problem above."""
    async with ctx.pg.acquire() as conn:
        row = await registry.policy(conn, policy_hash)
    if row is None:
        raise Problem("policy-unknown", f"policy {policy_hash} is not registered",
                      policy_hash=policy_hash, rule="policy-unknown")
    if row.status in _STATUS:
        slug, why = _STATUS[row.status]
        raise Problem(slug, f"policy {policy_hash} ({row.name} {row.version}) {why}",
                      policy_hash=policy_hash, rule=slug)
    try:
        verdict = await ctx.policy_gate.decide(POINT, {
            "policy_hash": policy_hash, "action": "mint", "tenant": tenant,
            "budgets": {"tokens": int(budgets["tokens"]),
                        "tools_per_min": int(budgets["tools_per_min"])},
            "capsules": capsules})
    except PolicyEngineUnavailable as exc:
        raise Problem("dependency-unavailable", f"the policy engine did not answer: {exc}",
                      headers={"Retry-After": "1"}, retry_after_s=1) from exc
    if not verdict.allowed:
        raise Problem("policy-denied", verdict.detail("this mint"),
                      policy_hash=policy_hash, rule=verdict.rule)
    lane = row.document.get("data", {}).get("lane")
    return str(lane) if lane is not None else None
