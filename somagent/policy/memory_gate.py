"""The Memory Gateway's policy check on ``remember`` (a memory write), by OPA.

A remember request that names a ``session`` is decided by that session's policy
(``{"action": "memory.write", capsules}``): the policy's ``memory.mode`` must be
``read-write`` and a capsule write must be in ``memory.capsules``. A request without
a session (capsule uploads, internal writes) is decided by the default policy. A
refusal is 403 ``policy-denied`` naming the hash and rule, with one ``PolicyDenied``
appended; nothing else is appended. OPA not answering is 503 (fails closed).
"""

from __future__ import annotations

from somagent.api.problems import Problem
from somagent.policy.audit import Append, denied_event
from somagent.policy.exceptions import PolicyEngineUnavailable
from somagent.policy.gate import PolicyGate, Verdict
from somagent.policy.sessions import SessionPolicies

POINT = "memory"


class OpaMemoryPolicy:
    def __init__(self, gate: PolicyGate, sessions: SessionPolicies, append: Append,
                 *, producer: str) -> None:
        self.gate = gate
        self.sessions = sessions
        self.append = append
        self.producer = producer

    async def check_write(self, *, tenant: str, session: str | None, capsule: str | None,
                          trace_id: str | None = None) -> None:
        """Return if the write is allowed; raise the :class:`Problem` above."""
        try:
            policy = await self.sessions.policy_of(session)
            if policy is None:
                verdict = Verdict(False, ("session-unknown",), "")
                self.gate.metrics.count(POINT, verdict)
            else:
                verdict = await self.gate.decide(POINT, {
                    "policy_hash": policy, "action": "memory.write", "tenant": tenant,
                    "capsules": [capsule] if capsule else []})
        except PolicyEngineUnavailable as exc:
            raise Problem("dependency-unavailable", f"the policy engine did not answer: {exc}",
                          headers={"Retry-After": "1"}, retry_after_s=1) from exc
        if verdict.allowed:
            return
        detail = (verdict.detail("a memory write") if policy else
                  f"session {session} is unknown or expired: no policy allows a memory write")
        await self.append(denied_event(verdict, path="memory.write", detail=detail,
                                       tenant=tenant, producer=self.producer, session=session,
                                       trace_id=trace_id))
        raise Problem("policy-denied", detail, policy_hash=verdict.policy_hash or None,
                      rule=verdict.rule)
