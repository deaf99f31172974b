"""The tool broker's policy check (:class:`somagent.tools.policy.ToolPolicy`), by OPA.

Per call: the session's policy (:class:`SessionPolicies`), then one decision
``{"action": "tool", tool, arguments, egress_hosts}`` (:class:`PolicyGate`, cached
per input for a short TTL). A refusal is a failed result ``policy-denied`` whose
message names the policy hash and the rules, and one ``PolicyDenied`` appended to
``gateway.audit`` (at least once: a resumed turn may append it again). OPA not
answering refuses the call (``policy-unavailable``): the gate fails closed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from somagent.policy.audit import Append, denied_event
from somagent.policy.exceptions import PolicyEngineUnavailable
from somagent.policy.gate import PolicyGate, Verdict
from somagent.policy.sessions import SessionPolicies
from somagent.tools.policy import PolicyRefusal

log = logging.getLogger(__name__)

POINT = "tool"


class OpaToolPolicy:
    """Decides tool calls for one process (turn worker or jobs worker)."""

    def __init__(self, gate: PolicyGate, sessions: SessionPolicies, append: Append,
                 *, producer: str) -> None:
        self.gate = gate
        self.sessions = sessions
        self.append = append
        self.producer = producer

    async def check(self, *, tenant: str, session: str | None, turn_id: str, tool: str,
                    arguments: Mapping[str, Any], egress_hosts: Sequence[str]
                    ) -> PolicyRefusal | None:
        try:
            policy = await self.sessions.policy_of(session)
            if policy is None:
                verdict = Verdict(False, ("session-unknown",), "")
                self.gate.metrics.count(POINT, verdict)
            else:
                verdict = await self.gate.decide(POINT, {
                    "policy_hash": policy, "action": "tool", "tenant": tenant, "tool": tool,
                    "arguments": dict(arguments), "egress_hosts": list(egress_hosts)})
        except PolicyEngineUnavailable as exc:
            log.error("tool %s for tenant %s: %s", tool, tenant, exc)
            return PolicyRefusal("policy-unavailable", f"{tool}: the policy engine did not "
                                 f"answer, so the call is refused: {exc}")
        if verdict.allowed:
            return None
        hosts = f" (egress {', '.join(egress_hosts)})" if egress_hosts else ""
        detail = verdict.detail(f"tool {tool!r}{hosts}") if policy else (
            f"session {session} is unknown or expired: no policy to decide tool {tool!r}")
        await self.append(denied_event(verdict, path=f"tool:{tool}", detail=detail,
                                       tenant=tenant, producer=self.producer, session=session,
                                       turn=turn_id or None))
        return PolicyRefusal("policy-denied", detail)
