"""Per-tenant data keys in Postgres: the owner of ``tenant_data_keys``.

Guarantees:

* At most one live key per tenant (a partial unique index); :meth:`TenantKeys.live`
  creates it on first use, race-free across processes (insert, on conflict read
  the winner's).
* Keys are stored only wrapped by the master key (:func:`somagent.erasure.cipher.wrap`);
  the plaintext key exists only in the memory of the process using it.
* :meth:`TenantKeys.destroy` drops the wrapped bytes of every live key of the tenant
  in one statement (``wrapped_key = NULL``, ``destroyed_at = now()``): afterwards no
  process can unwrap it again, so whatever it sealed is unreadable for good. The
  row stays as the record of the erasure. Destroying again is a no-op that returns
  the earlier record. Postgres's own WAL and backups may keep old pages until they
  are recycled; that window is the operator's backup retention (documented).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from somagent.erasure.cipher import new_data_key, unwrap, wrap
from somagent.erasure.exceptions import KeyDestroyed, KeyStoreUnavailable

_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True, slots=True)
class Destroyed:
    """The outcome of :meth:`TenantKeys.destroy`."""

    tenant: str
    key_ids: tuple[str, ...]
    destroyed_at: datetime | None
    first: bool  # False when nothing was live (already erased, or never had a key)


class TenantKeys:
    """Create, unwrap and destroy tenants' data keys (see the module doc)."""

    def __init__(self, pool: asyncpg.Pool, master: bytes) -> None:
        self._pool = pool
        self._master = master

    async def live(self, tenant: str) -> tuple[str, bytes]:
        """``(key id, data key)`` of the tenant's live key, created on first use."""
        try:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT key_id, wrapped_key FROM tenant_data_keys"
                    " WHERE tenant_id = $1 AND destroyed_at IS NULL", uuid.UUID(tenant))
                if row is None:
                    key_id = "dk-" + secrets.token_hex(8)
                    await conn.execute(
                        "INSERT INTO tenant_data_keys (key_id, tenant_id, wrapped_key)"
                        " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        key_id, uuid.UUID(tenant), wrap(self._master, tenant, new_data_key()))
                    row = await conn.fetchrow(
                        "SELECT key_id, wrapped_key FROM tenant_data_keys"
                        " WHERE tenant_id = $1 AND destroyed_at IS NULL", uuid.UUID(tenant))
        except _ERRORS as exc:
            raise KeyStoreUnavailable(f"data key of tenant {tenant}: {exc}") from exc
        assert row is not None
        return str(row["key_id"]), unwrap(self._master, tenant, bytes(row["wrapped_key"]))

    async def by_id(self, tenant: str, key_id: str) -> bytes:
        """The data key ``key_id`` of ``tenant``.

        Raises:
            KeyDestroyed: the key was destroyed, or is not this tenant's.
        """
        try:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT wrapped_key FROM tenant_data_keys WHERE key_id = $1"
                    " AND tenant_id = $2", key_id, uuid.UUID(tenant))
        except _ERRORS as exc:
            raise KeyStoreUnavailable(f"data key {key_id} of tenant {tenant}: {exc}") from exc
        if row is None or row["wrapped_key"] is None:
            raise KeyDestroyed(f"data key {key_id} of tenant {tenant} is destroyed or unknown")
        return unwrap(self._master, tenant, bytes(row["wrapped_key"]))

    async def destroy(self, tenant: str) -> Destroyed:
        """Destroy every live key of ``tenant`` (idempotent; see the module doc)."""
        try:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    "UPDATE tenant_data_keys SET wrapped_key = NULL, destroyed_at = now()"
                    " WHERE tenant_id = $1 AND destroyed_at IS NULL"
                    " RETURNING key_id, destroyed_at", uuid.UUID(tenant))
                if rows:
                    return Destroyed(tenant, tuple(r["key_id"] for r in rows),
                                     rows[0]["destroyed_at"], True)
                earlier = await conn.fetch(
                    "SELECT key_id, destroyed_at FROM tenant_data_keys WHERE tenant_id = $1"
                    " ORDER BY destroyed_at", uuid.UUID(tenant))
        except _ERRORS as exc:
            raise KeyStoreUnavailable(f"destroying the keys of tenant {tenant}: {exc}") from exc
        return Destroyed(tenant, tuple(r["key_id"] for r in earlier),
                         earlier[-1]["destroyed_at"] if earlier else None, False)
