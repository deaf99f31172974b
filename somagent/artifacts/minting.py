"""Minting a session for an installed agent (``agent`` in ``POST /v1/session/mint``).

The token then carries the installed version's persona and policy hashes, its
tools and its capsules (``agent`` claim ``{id, version, tools}``, capsule ids in
``capsules``). Refused: not installed or uninstalled (403 ``agent-not-installed``),
revoked (403 ``agent-revoked``), a revoked capsule (403 ``capsule-revoked``, also
for capsules named directly in the mint body).
"""

from __future__ import annotations

from dataclasses import dataclass

from somagent.api.context import EdgeContext
from somagent.api.problems import Problem
from somagent.artifacts import registry


@dataclass(frozen=True, slots=True)
class AgentGrant:
    agent_id: str
    version: str
    persona_hash: str
    policy_hash: str
    tools: tuple[str, ...]
    capsules: tuple[str, ...]

    def claim(self) -> dict[str, object]:
        return {"id": self.agent_id, "version": self.version, "tools": list(self.tools)}


async def agent_grant(ctx: EdgeContext, tenant: str, agent_id: str) -> AgentGrant:
    """What a session for ``agent_id`` installed by ``tenant`` carries (403s above)."""
    async with ctx.pg.acquire() as conn:
        head = await registry.artifact(conn, "agent", agent_id)
        inst = await registry.install(conn, tenant, agent_id)
        if head is not None and head["status"] == "revoked":
            raise Problem("agent-revoked", f"agent {agent_id} was revoked")
        if head is None or inst is None or inst["status"] != "installed":
            raise Problem("agent-not-installed",
                          f"agent {agent_id} is not installed for tenant {tenant}")
        row = await registry.version(conn, "agent", agent_id, inst["version"])
    assert row is not None
    capsules = tuple(ref.partition("@")[0] for ref in row["capsule_ids"])
    return AgentGrant(agent_id, inst["version"], row["persona_hash"], row["policy_hash"],
                      tuple(row["tools"]), capsules)


async def refuse_revoked_capsules(ctx: EdgeContext, capsules: list[str]) -> None:
    if not capsules:
        return
    async with ctx.pg.acquire() as conn:
        revoked = await registry.revoked_capsules(conn, capsules)
    if revoked:
        raise Problem("capsule-revoked", f"capsules {revoked} were revoked")
