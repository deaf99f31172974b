"""Tenants and their API keys in Postgres (``tenants`` table).

An API key is ``sk_`` + 43 base64url characters (256 random bits), shown once at
creation. Only ``sha256:<hex>`` of it is stored (``api_key_hash``, unique), which
is safe for a key of that entropy and lets the edge find the tenant with one
indexed lookup. ``key_id`` (the first 12 hex digits of the hash) names the key in
audit events without revealing it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from somagent.api.exceptions import TenantError

PLANS = ("free", "pro", "enterprise")
RESIDENCIES = ("eu", "us")
KEY_PREFIX = "sk_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    return "sha256:" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def key_id(api_key_hash: str) -> str:
    return "key:" + api_key_hash.removeprefix("sha256:")[:12]


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: str
    name: str
    plan: str
    residency: str
    key_id: str
    created_at: datetime
    disabled: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "name": self.name,
            "plan": self.plan,
            "residency": self.residency,
            "key_id": self.key_id,
            "created_at": self.created_at.isoformat(),
            "disabled": self.disabled,
        }


def _tenant(row: asyncpg.Record) -> Tenant:
    return Tenant(
        tenant_id=str(row["tenant_id"]),
        name=row["name"],
        plan=row["plan"],
        residency=row["residency"],
        key_id=key_id(row["api_key_hash"]),
        created_at=row["created_at"],
        disabled=row["disabled_at"] is not None,
    )


async def create_tenant(
    conn: asyncpg.Connection, name: str, plan: str = "free", residency: str = "eu"
) -> tuple[Tenant, str]:
    """Insert a tenant with a fresh API key; return it and the key (shown only now).

    Raises:
        TenantError: empty name, unknown plan or residency, or the insert failed.
    """
    if not name.strip() or len(name) > 200:
        raise TenantError(f"tenant name must be 1..200 characters, got {name!r}")
    if plan not in PLANS:
        raise TenantError(f"plan {plan!r} is not one of {', '.join(PLANS)}")
    if residency not in RESIDENCIES:
        raise TenantError(f"residency {residency!r} is not one of {', '.join(RESIDENCIES)}")
    api_key = new_api_key()
    try:
        row = await conn.fetchrow(
            "INSERT INTO tenants (tenant_id, name, plan, residency, api_key_hash)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING *",
            uuid.uuid4(), name, plan, residency, hash_api_key(api_key),
        )
    except asyncpg.PostgresError as exc:
        raise TenantError(f"creating tenant {name!r} failed: {exc}") from exc
    assert row is not None
    return _tenant(row), api_key


async def list_tenants(conn: asyncpg.Connection) -> list[Tenant]:
    rows = await conn.fetch("SELECT * FROM tenants ORDER BY created_at, tenant_id")
    return [_tenant(r) for r in rows]


async def tenant_for_key(conn: asyncpg.Connection | asyncpg.Pool, api_key: str) -> Tenant | None:
    """The enabled tenant owning ``api_key``, or None."""
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        return None
    row = await conn.fetchrow(
        "SELECT * FROM tenants WHERE api_key_hash = $1 AND disabled_at IS NULL",
        hash_api_key(api_key),
    )
    return None if row is None else _tenant(row)
