"""Tenants and their API keys in Postgres (``tenants`` table).

An API key is ``sk_`` + 43 base64url characters (256 random bits), shown once at
creation. Only ``sha256:<hex>`` of it is stored (``api_key_hash``, unique), which
is safe for a key of that entropy and lets the edge find the tenant with one
indexed lookup. ``key_id`` (the first 12 hex digits of the hash) names the key in
audit events without revealing it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from somagent.api.exceptions import TenantError
from somagent.plans.exceptions import InvalidPlanLimits
from somagent.plans.limits import PlanLimits, tenant_limits

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
    limits: PlanLimits | None = None

    def plan_limits(self) -> PlanLimits:
        """The effective limits (plan defaults and this tenant's overrides)."""
        return self.limits if self.limits is not None else tenant_limits(self.plan)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "name": self.name,
            "plan": self.plan,
            "residency": self.residency,
            "key_id": self.key_id,
            "created_at": self.created_at.isoformat(),
            "disabled": self.disabled,
            "limits": self.plan_limits().as_dict(),
        }


def _json_object(raw: Any) -> dict[str, Any]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return dict(value) if isinstance(value, dict) else {}


def _limits(row: asyncpg.Record) -> PlanLimits:
    """The row's effective limits; a malformed stored override falls back to the plan's
    defaults rather than locking the tenant out (``set_tenant_limits`` validates writes)."""
    keys = row.keys()
    limits = _json_object(row["limits"]) if "limits" in keys else {}
    profile = _json_object(row["billing_profile"]) if "billing_profile" in keys else {}
    try:
        return tenant_limits(row["plan"], limits, profile)
    except InvalidPlanLimits:
        return tenant_limits(row["plan"])


def _tenant(row: asyncpg.Record) -> Tenant:
    return Tenant(
        tenant_id=str(row["tenant_id"]),
        name=row["name"],
        plan=row["plan"],
        residency=row["residency"],
        key_id=key_id(row["api_key_hash"]),
        created_at=row["created_at"],
        disabled=row["disabled_at"] is not None,
        limits=_limits(row),
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


async def set_tenant_limits(
    conn: asyncpg.Connection,
    tenant_id: str,
    limits: dict[str, Any] | None = None,
    billing_profile: dict[str, Any] | None = None,
) -> Tenant:
    """Replace the tenant's ``limits`` and/or ``billing_profile`` (None leaves one as is).

    Validated first (:func:`somagent.plans.limits.tenant_limits`); sessions minted
    afterwards get the new limits, sessions already minted keep theirs.

    Raises:
        TenantError: malformed limits, or no such tenant.
    """
    row = await conn.fetchrow("SELECT * FROM tenants WHERE tenant_id = $1", uuid.UUID(tenant_id))
    if row is None:
        raise TenantError(f"tenant {tenant_id} does not exist")
    new_limits = _json_object(row["limits"]) if limits is None else limits
    new_profile = (_json_object(row["billing_profile"]) if billing_profile is None
                   else billing_profile)
    try:
        tenant_limits(row["plan"], new_limits, new_profile)
    except InvalidPlanLimits as exc:
        raise TenantError(f"tenant {tenant_id}: {exc}") from exc
    updated = await conn.fetchrow(
        "UPDATE tenants SET limits = $2::jsonb, billing_profile = $3::jsonb"
        " WHERE tenant_id = $1 RETURNING *",
        uuid.UUID(tenant_id), json.dumps(new_limits), json.dumps(new_profile),
    )
    assert updated is not None
    return _tenant(updated)
