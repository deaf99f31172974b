"""The edge's policy check on a memory read (``POST /v1/memory/recall`` and ``POST
/v1/brain/evaluate``, which returns memory evidence too), by OPA.

The session token names its policy (``policy_hash`` claim), so no lookup is needed:
one decision ``{"action": "memory.read", capsules}``. Refused (403 ``policy-denied``
naming the hash and rule, audited by the edge as ``PolicyDenied``): a policy whose
``memory.mode`` is ``off`` (``memory-read-not-allowed``), capsules outside
``memory.capsules`` (``capsule-not-allowed``), a policy revoked since the mint
(``policy-not-active``, within the gate cache's TTL). OPA unreachable: 503.
"""

from __future__ import annotations

from somagent.api.context import EdgeContext
from somagent.api.problems import Problem
from somagent.policy.exceptions import PolicyEngineUnavailable

POINT = "memory"


async def check_recall(ctx: EdgeContext, tenant: str, policy_hash: str,
                       capsules: list[str]) -> None:
    """Return if the session's policy allows the read; raise the Problem above."""
    try:
        verdict = await ctx.policy_gate.decide(POINT, {
            "policy_hash": policy_hash, "action": "memory.read", "tenant": tenant,
            "capsules": capsules})
    except PolicyEngineUnavailable as exc:
        raise Problem("dependency-unavailable", f"the policy engine did not answer: {exc}",
                      headers={"Retry-After": "1"}, retry_after_s=1) from exc
    if not verdict.allowed:
        raise Problem("policy-denied", verdict.detail("a memory read"),
                      policy_hash=policy_hash, rule=verdict.rule)
