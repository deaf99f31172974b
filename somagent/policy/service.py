"""Register, sign, activate and revoke policies; keep OPA at the active set.

Every change is an event on ``policy.events`` (appended and acknowledged first,
the log is the source of truth), then applied to the Postgres read model in the
same call (read-your-writes; the projector applies it again, idempotently), then
pushed to OPA. Guarantees:

* a registration is idempotent per hash (same document, same answer, one event);
* a policy becomes active exactly when ``k`` distinct constitution keys have signed
  it (signatures are serialised per hash by a Postgres advisory lock, so two
  concurrent last signatures append one ``PolicyActivated``);
* revocation is terminal and needs only the operator (the safe direction);
* :meth:`PolicyService.sync` makes OPA hold exactly the active policies (the
  policy role runs it periodically, so an OPA restarted empty is refilled).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from somagent.contract import names
from somagent.contract.ids import stable_id
from somagent.events.envelope import make_event
from somagent.policy import document as doc
from somagent.policy import projection, registry
from somagent.policy.constitution import Constitution
from somagent.policy.exceptions import PolicyStateConflict, UnknownPolicy
from somagent.policy.opa import (
    DATA_ROOT,
    GATE_POLICY_ID,
    LOG_FILTER_ID,
    OpaClient,
    gate_module,
    log_filter_module,
)
from somagent.policy.registry import PolicyRow

log = logging.getLogger(__name__)

NIL_TENANT: Final = str(uuid.UUID(int=0))
Append = Callable[[Mapping[str, Any]], Awaitable[Any]]


class PolicyService:
    """Over a Postgres pool (``asyncpg``), an acking ``append`` and OPA."""

    def __init__(self, pg: Any, append: Append, opa: OpaClient, constitution: Constitution,
                 *, producer: str) -> None:
        self.pg = pg
        self.append = append
        self.opa = opa
        self.constitution = constitution
        self.producer = producer

    async def _emit(self, conn: Any, event_type: str, payload: dict[str, Any],
                    event_id: uuid.UUID, trace_id: str | None) -> None:
        event = make_event(event_type, payload, tenant=NIL_TENANT, producer=self.producer,
                           trace_id=trace_id, event_id=event_id)
        await self.append(event)
        await projection.apply(conn, [event])

    async def register(self, document: Any, principal: str, trace_id: str | None = None
                       ) -> tuple[PolicyRow, bool]:
        """Register ``document``; ``(row, created)`` (created False: already registered).
        Raises InvalidPolicy (schema, RFC 8785, or Rego OPA refuses) with nothing stored."""
        checked = doc.validate(document)
        hash_ = doc.policy_hash(checked)
        async with self.pg.acquire() as conn:
            existing = await registry.policy(conn, hash_)
            if existing is not None:
                return existing, False
            if "rego" in checked:  # OPA compiles it now: bad Rego is refused before any event
                await self.opa.put_module(doc.module_id(hash_),
                                          doc.custom_module(hash_, checked["rego"]))
            payload = {"policy_hash": hash_, "name": checked["name"],
                       "version": checked["version"],
                       "document_json": doc.canonical_bytes(checked).decode(),
                       "principal": principal}
            await self._emit(conn, names.POLICY_REGISTERED, payload,
                             stable_id("policy-registered", hash_), trace_id)
            row = await registry.policy(conn, hash_)
        assert row is not None
        return row, True

    async def sign(self, hash_: str, key_id: str, signature: str,
                   trace_id: str | None = None) -> tuple[PolicyRow, list[str]]:
        """Record one constitution signature; activate at ``k``. Raises UnknownPolicy,
        PolicyStateConflict (revoked), SignatureInvalid — each before any event."""
        async with self.pg.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", hash_)
            row = await registry.policy(conn, hash_)
            if row is None:
                raise UnknownPolicy(f"no policy {hash_} is registered")
            if row.status == "revoked":
                raise PolicyStateConflict(f"policy {hash_} was revoked; it cannot be signed")
            self.constitution.verify(hash_, key_id, signature)
            signed = await registry.signers(conn, hash_)
            if key_id not in signed:
                await self._emit(conn, names.POLICY_SIGNED,
                                 {"policy_hash": hash_, "key_id": key_id, "signature": signature},
                                 stable_id("policy-signed", hash_, key_id), trace_id)
                signed.append(key_id)
            if row.status == "registered" and len(signed) >= self.constitution.k:
                payload = {"policy_hash": hash_, "key_ids": signed,
                           "threshold_k": self.constitution.k}
                await self._emit(conn, names.POLICY_ACTIVATED, payload,
                                 stable_id("policy-activated", hash_), trace_id)
            row = await registry.policy(conn, hash_)
        assert row is not None
        if row.status == "active":
            await self.push(row)
        return row, signed

    async def revoke(self, hash_: str, reason: str, principal: str,
                     trace_id: str | None = None) -> PolicyRow:
        """Revoke ``hash_`` (idempotent) and remove it from OPA."""
        async with self.pg.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", hash_)
            row = await registry.policy(conn, hash_)
            if row is None:
                raise UnknownPolicy(f"no policy {hash_} is registered")
            if row.status != "revoked":
                await self._emit(conn, names.POLICY_REVOKED,
                                 {"policy_hash": hash_, "reason": reason, "principal": principal},
                                 stable_id("policy-revoked", hash_), trace_id)
                row = await registry.policy(conn, hash_)
        assert row is not None
        await self.withdraw(hash_)
        return row

    async def push(self, row: PolicyRow) -> None:
        """Give OPA an active policy: its Rego rules (if any), then its data."""
        if "rego" in row.document:
            await self.opa.put_module(doc.module_id(row.policy_hash),
                                      doc.custom_module(row.policy_hash, row.document["rego"]))
        await self.opa.put_data(f"{DATA_ROOT}/{row.policy_hash}", row.document["data"])

    async def withdraw(self, hash_: str) -> None:
        await self.opa.delete_data(f"{DATA_ROOT}/{hash_}")
        await self.opa.delete_module(doc.module_id(hash_))

    async def sync(self) -> dict[str, int]:
        """Make OPA hold this release's rules and exactly the active policies; return counts."""
        modules = await self.opa.modules()
        for policy_id, text in ((GATE_POLICY_ID, gate_module()),
                                (LOG_FILTER_ID, log_filter_module())):
            if modules.get(policy_id) != text:  # missing, or from another release
                await self.opa.put_module(policy_id, text)
        async with self.pg.acquire() as conn:
            rows = await registry.active(conn)
        present = await self.opa.get_data(DATA_ROOT) or {}
        wanted = {r.policy_hash: r for r in rows}
        pushed = removed = 0
        for hash_, row in wanted.items():
            if json.dumps(present.get(hash_), sort_keys=True) != json.dumps(
                    row.document["data"], sort_keys=True) or (
                    "rego" in row.document and doc.module_id(hash_) not in modules):
                await self.push(row)
                pushed += 1
        for hash_ in set(present) - set(wanted):
            await self.withdraw(hash_)
            removed += 1
        return {"active": len(wanted), "pushed": pushed, "removed": removed}
