"""Postgres reads and writes of the artifact model (asyncpg).

* ``signing_keys`` (written here): a tenant's registered Ed25519 public keys.
* ``artifacts`` / ``artifact_versions`` / ``agent_installs``: the projected read
  models (:mod:`somagent.artifacts.projection`), read here.
* :func:`locked` serialises every change to one artifact: a transaction holding
  ``pg_advisory_xact_lock`` on the artifact, inside which the caller reads the
  artifact's event counter, appends its event and applies it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from somagent.artifacts import signing


@dataclass(frozen=True, slots=True)
class SigningKey:
    tenant_id: str
    key_id: str
    public_key_pem: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "algorithm": "ed25519", "public_key": self.public_key_pem,
                "created_at": self.created_at.isoformat()}


async def register_key(pool: Any, tenant: str, key: Ed25519PublicKey) -> tuple[SigningKey, bool]:
    """Store ``key`` for ``tenant``; returns it and whether it was new (idempotent)."""
    key_id = signing.thumbprint(key)
    row = await pool.fetchrow(
        "INSERT INTO signing_keys (tenant_id, key_id, public_key_pem) VALUES ($1, $2, $3) "
        "ON CONFLICT (tenant_id, key_id) DO NOTHING RETURNING *",
        uuid.UUID(tenant), key_id, signing.pem_of(key),
    )
    created = row is not None
    if row is None:
        row = await pool.fetchrow(
            "SELECT * FROM signing_keys WHERE tenant_id = $1 AND key_id = $2",
            uuid.UUID(tenant), key_id,
        )
    return _key(row), created


def _key(row: Any) -> SigningKey:
    return SigningKey(str(row["tenant_id"]), row["key_id"], row["public_key_pem"],
                      row["created_at"])


async def list_keys(pool: Any, tenant: str) -> list[SigningKey]:
    rows = await pool.fetch(
        "SELECT * FROM signing_keys WHERE tenant_id = $1 AND revoked_at IS NULL "
        "ORDER BY created_at, key_id",
        uuid.UUID(tenant),
    )
    return [_key(r) for r in rows]


async def tenant_keys(pool: Any, tenant: str) -> dict[str, Ed25519PublicKey]:
    """Key id → public key of every unrevoked key of ``tenant``."""
    return {k.key_id: signing.load_public_key(k.public_key_pem)
            for k in await list_keys(pool, tenant)}


@asynccontextmanager
async def locked(pool: asyncpg.Pool, kind: str, artifact_id: str) -> AsyncIterator[Any]:
    """A connection in a transaction that holds the artifact's advisory lock."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{kind}:{artifact_id}")
        yield conn


async def artifact(conn: Any, kind: str, artifact_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM artifacts WHERE kind = $1 AND artifact_id = $2", kind, artifact_id
    )
    return None if row is None else dict(row)


async def versions(conn: Any, kind: str, artifact_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM artifact_versions WHERE kind = $1 AND artifact_id = $2 ORDER BY created_at",
        kind, artifact_id,
    )
    return [dict(r) for r in rows]


async def version(conn: Any, kind: str, artifact_id: str, ver: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM artifact_versions WHERE kind = $1 AND artifact_id = $2 AND version = $3",
        kind, artifact_id, ver,
    )
    return None if row is None else dict(row)


async def installs_of(conn: Any, agent_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM agent_installs WHERE agent_id = $1", agent_id)
    return [dict(r) for r in rows]


async def install(conn: Any, tenant: str, agent_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM agent_installs WHERE tenant_id = $1 AND agent_id = $2",
        uuid.UUID(tenant), agent_id,
    )
    return None if row is None else dict(row)


async def capsule_holders(conn: Any, capsule_id: str) -> list[str]:
    """Tenants other than the owner whose installed agents brought ``capsule_id``."""
    rows = await conn.fetch(
        "SELECT DISTINCT tenant_id FROM agent_installs, unnest(capsule_ids) AS c "
        "WHERE status = 'installed' AND split_part(c, '@', 1) = $1",
        capsule_id,
    )
    return sorted(str(r["tenant_id"]) for r in rows)


async def revoked_capsules(conn: Any, capsule_ids: list[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT artifact_id FROM artifacts WHERE kind = 'capsule' AND status = 'revoked' "
        "AND artifact_id = ANY($1::text[])",
        capsule_ids,
    )
    return sorted(r["artifact_id"] for r in rows)


def version_json(row: dict[str, Any]) -> dict[str, Any]:
    """A version row as the API shows it."""
    out = {
        "version": row["version"], "sha256": row["sha256"], "size_bytes": row["size_bytes"],
        "key_id": row["key_id"], "blob_key": row["blob_key"], "name": row["name"],
        "created_at": row["created_at"].isoformat(),
    }
    if row["kind"] == "capsule":
        out["memory_count"] = row["memory_count"]
    else:
        out.update(persona_hash=row["persona_hash"], policy_hash=row["policy_hash"],
                   tools=list(row["tools"]), capsule_ids=list(row["capsule_ids"]),
                   sbom_components=row["sbom_components"], sla_ms=row["sla_ms"])
    return out


def artifact_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["artifact_id"], "kind": row["kind"], "owner_tenant": str(row["tenant_id"]),
        "name": row["name"], "status": row["status"], "latest_version": row["latest_version"],
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
        "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
        "revoke_reason": row["revoke_reason"],
    }
