"""Who is asking: the service, the operator, or one tenant's analyst.

* ``service`` + the service credential (``SOMAGENT_HOME/keys/service.token``):
  read-write. With the header ``X-SomaGent-Tenant: <uuid>`` it acts as that
  tenant instead (read-only, tenant-scoped): the ``sql`` tool's identity.
* ``operator`` + the operator credential: read-only, every tenant's rows.
* ``<tenant uuid>`` + that tenant's API key (``sk_...``): read-only, the tenant's
  rows only. The key is checked against Postgres ``tenants.api_key_hash``
  (``sha256:<hex>``); a disabled tenant is refused.

Guarantees: credentials are compared in constant time; a wrong or missing
credential is ClickHouse's AUTHENTICATION_FAILED (HTTP 403) whichever part was
wrong. A successful tenant check is cached for at most :data:`TENANT_CACHE_S`
seconds (so a query is not a Postgres round trip); a key revoked or a tenant
disabled is refused at the latest that long after. Failed checks are never cached.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Final, Literal

import asyncpg

from somagent.analytics.errors import error
from somagent.analytics.request import Credentials
from somagent.api.tenants import hash_api_key
from somagent.credentials import OPERATOR, SERVICE, matches

TENANT_CACHE_S: Final = 30.0
Role = Literal["service", "operator", "tenant"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; ``user`` is the name it presented (for messages)."""

    role: Role
    user: str
    tenant: str | None = None

    @property
    def readonly(self) -> bool:
        return self.role != "service" or self.tenant is not None

    @property
    def name(self) -> str:
        """How errors name the caller (``service (tenant <uuid>)`` when acting for one)."""
        if self.role == "tenant" and self.user != self.tenant:
            return f"{self.user} (tenant {self.tenant})"
        return self.user


def canonical_tenant(text: str) -> str | None:
    """``text`` as a canonical tenant uuid, or None if it is not one."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return None


def _auth_failed(user: str) -> None:
    raise error(
        "AUTHENTICATION_FAILED",
        f"{user}: Authentication failed: password is incorrect, or there is no user with such name",
    )


class Authenticator:
    """Checks credentials; tenant keys against Postgres through ``pool``."""

    def __init__(self, service_token: str, operator_token: str, pool: asyncpg.Pool) -> None:
        self._service = service_token
        self._operator = operator_token
        self._pool = pool
        self._cache: dict[tuple[str, str], float] = {}

    async def authenticate(self, creds: Credentials, tenant_header: str | None) -> Principal:
        """The principal ``creds`` prove, acting as ``tenant_header`` where allowed.

        Raises:
            ClickHouseError: AUTHENTICATION_FAILED; BAD_ARGUMENTS for a tenant header
                that is not a uuid; ACCESS_DENIED for a tenant header from anyone but
                the service (or the tenant itself).
        """
        base = await self._principal(creds)
        if tenant_header is None:
            return base
        tenant = canonical_tenant(tenant_header)
        if tenant is None:
            raise error("BAD_ARGUMENTS", f"X-SomaGent-Tenant is not a uuid: {tenant_header!r}")
        if base.role == "service":
            return Principal("tenant", SERVICE, tenant)
        if base.tenant == tenant:
            return base
        raise error("ACCESS_DENIED", f"{creds.user}: only the service may act as a tenant")

    async def _principal(self, creds: Credentials) -> Principal:
        if creds.user == SERVICE and matches(creds.key, self._service):
            return Principal("service", SERVICE)
        if creds.user == OPERATOR and matches(creds.key, self._operator):
            return Principal("operator", OPERATOR)
        tenant = canonical_tenant(creds.user)
        if tenant is None or not creds.key or not await self._tenant_key_ok(tenant, creds.key):
            _auth_failed(creds.user)
        assert tenant is not None
        return Principal("tenant", creds.user, tenant)

    async def _tenant_key_ok(self, tenant: str, key: str) -> bool:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        now = time.monotonic()
        expires = self._cache.get((tenant, digest))
        if expires is not None and expires > now:
            return True
        try:
            row = await self._pool.fetchrow(
                "SELECT api_key_hash, disabled_at IS NOT NULL AS disabled "
                "FROM tenants WHERE tenant_id = $1",
                uuid.UUID(tenant),
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise error(
                "ALL_CONNECTION_TRIES_FAILED",
                f"cannot check tenant {tenant}'s key: the tenant directory is unavailable ({exc})",
            ) from exc
        ok = (
            row is not None
            and not row["disabled"]
            and matches(hash_api_key(key), row["api_key_hash"])
        )
        if ok:
            if len(self._cache) > 10_000:
                self._cache = {k: v for k, v in self._cache.items() if v > now}
            self._cache[(tenant, digest)] = now + TENANT_CACHE_S
        return ok
