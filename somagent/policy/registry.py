"""Reads of the policy read model (Postgres): one policy, the active set, signatures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from somagent.policy.document import from_json


@dataclass(frozen=True, slots=True)
class PolicyRow:
    policy_hash: str
    name: str
    version: str
    document: dict[str, Any]
    status: str
    activated_by: tuple[str, ...]
    revoke_reason: str

    def summary(self, signatures: list[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"policy_hash": self.policy_hash, "name": self.name,
                               "version": self.version, "status": self.status}
        if signatures is not None:
            out["signed_by"] = signatures
        if self.status == "active":
            out["activated_by"] = list(self.activated_by)
        if self.status == "revoked":
            out["revoke_reason"] = self.revoke_reason
        return out


def _row(record: Any) -> PolicyRow:
    return PolicyRow(record["policy_hash"], record["name"], record["version"],
                     from_json(record["document"]), record["status"],
                     tuple(record["activated_by"]), record["revoke_reason"])


async def policy(conn: Any, policy_hash: str) -> PolicyRow | None:
    record = await conn.fetchrow(
        "SELECT policy_hash, name, version, document, status, activated_by, revoke_reason"
        " FROM policies WHERE policy_hash = $1", policy_hash)
    return None if record is None else _row(record)


async def active(conn: Any) -> list[PolicyRow]:
    records = await conn.fetch(
        "SELECT policy_hash, name, version, document, status, activated_by, revoke_reason"
        " FROM policies WHERE status = 'active' ORDER BY policy_hash")
    return [_row(r) for r in records]


async def signers(conn: Any, policy_hash: str) -> list[str]:
    rows = await conn.fetch("SELECT key_id FROM policy_signatures WHERE policy_hash = $1"
                            " ORDER BY signed_at, key_id", policy_hash)
    return [str(r["key_id"]) for r in rows]
