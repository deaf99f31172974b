"""Memory capsules: upload, read, revoke, materialise into a tenant's memory, meter reads.

* **Upload** (owner's API key): a verified DSSE envelope holding a capsule
  (:mod:`somagent.artifacts.intake`). Under the capsule's lock: the id must be
  the tenant's or new (403), not revoked (409); an existing version must have the
  same digest (200, idempotent) or it is 409 ``version-exists``. Then the
  envelope goes to the blob store, every memory block is remembered through the
  Memory Gateway for the owner with ``capsule_id`` (waiting until each is applied,
  so the answer means "recallable"), and ``CapsuleUploaded`` is appended to
  ``memory.events`` and applied to the read model.
* **Revoke** (owner's API key or the operator): ``CapsuleRevoked`` for the owner
  and for every tenant an installed agent copied it to; the Memory Gateway's
  memory agent deletes the capsule's memories of each of them, after every remember
  requested before the revoke (same ``memory.events`` partition, keyed by tenant).
* **Reads**: every recall through the edge that returns blocks of a capsule appends
  one ``UsageRecorded`` (agent ``capsule:<id>``, priced at the capsule SKU) and
  one ``CapsuleRecalled`` audit event (action ``memory.capsule.recall``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from somagent.api.call import PRODUCER, Call
from somagent.api.problems import Problem
from somagent.artifacts import projection, registry
from somagent.artifacts.documents import Capsule
from somagent.artifacts.services import services
from somagent.contract import names
from somagent.contract.ids import stable_id, usage_id
from somagent.events.envelope import make_event, now_us, random_event_id
from somagent.exceptions import SomagentError
from somagent.memory.model import EvidenceBlock

log = logging.getLogger(__name__)

REMEMBER_WAIT_MS = 15_000
REMEMBER_CONCURRENCY = 8


def unavailable(what: str, exc: BaseException) -> Problem:
    return Problem("dependency-unavailable", f"{what}: {exc}", headers={"Retry-After": "1"},
                   retry_after_s=1)


async def materialise(call: Call, tenant: str, capsule: Capsule) -> dict[str, Any]:
    """Remember every block of ``capsule`` for ``tenant`` (scoped to the capsule id) and wait
    until each is applied; returns counts by outcome. Retries are the same requests
    (request ids derive from tenant, capsule, version and block id)."""
    memory = call.ctx.memory
    gate = asyncio.Semaphore(REMEMBER_CONCURRENCY)
    source = f"capsule:{capsule.capsule_id}/{capsule.version}"

    async def one(block: dict[str, Any]) -> str:
        request_id = str(stable_id("capsule-block", tenant, capsule.capsule_id, capsule.version,
                                   block["id"]))
        async with gate:
            receipt = await memory.remember(
                tenant, block["text"], source=source, trace_id=call.trace_id,
                capsule_id=capsule.capsule_id, reason=f"capsule block {block['id']}",
                request_id=request_id, wait_ms=REMEMBER_WAIT_MS,
            )
        if receipt.status == "rejected":
            return "present" if receipt.reason_code == "duplicate" else receipt.reason_code
        return receipt.status

    try:
        outcomes = await asyncio.gather(*(one(b) for b in capsule.blocks))
    except ValueError as exc:  # the gateway refused a block's input
        raise Problem("invalid-artifact", f"a memory block was refused: {exc}") from exc
    except SomagentError as exc:
        raise unavailable("memory gateway failed while remembering capsule blocks", exc) from exc
    counts = Counter(outcomes)
    if counts.get("requested"):
        raise unavailable("memory gateway", TimeoutError(
            f"{counts['requested']} blocks not applied within {REMEMBER_WAIT_MS} ms; retry"))
    return dict(counts)


def uploaded_event(call: Call, tenant: str, capsule: Capsule, intake: Any, blob_key: str,
                   seq: int) -> dict[str, Any]:
    return make_event(
        names.CAPSULE_UPLOADED,
        {
            "capsule_id": capsule.capsule_id, "name": capsule.name, "sha256": intake.sha256,
            "size_bytes": intake.payload_size_bytes, "memory_count": len(capsule.blocks),
            "version": capsule.version, "key_id": intake.key_id, "blob_key": blob_key,
            "envelope_sha256": blob_key.removeprefix("sha256/"),
        },
        tenant=tenant, producer=PRODUCER, trace_id=call.trace_id, seq=seq,
        event_id=stable_id("artifact-event", "capsule", capsule.capsule_id, seq),
    )


async def append_and_apply(call: Call, conn: Any, events: Sequence[dict[str, Any]]) -> None:
    """Append ``events`` (acknowledged) and apply them to the read model on ``conn``."""
    await call.ctx.appender.publish(list(events))
    await projection.apply(conn, events)


def check_owner(row: dict[str, Any] | None, tenant: str, what: str) -> None:
    if row is not None and str(row["tenant_id"]) != tenant:
        raise Problem("forbidden", f"{what} belongs to another tenant")


async def revoke(call: Call, capsule_id: str, who_tenant: str | None, reason: str
                 ) -> dict[str, Any]:
    """Revoke ``capsule_id`` (``who_tenant`` None: the operator). Idempotent."""
    async with registry.locked(call.ctx.pg, "capsule", capsule_id) as conn:
        row = await registry.artifact(conn, "capsule", capsule_id)
        if row is None:
            raise Problem("not-found", f"capsule {capsule_id} not found")
        if who_tenant is not None:
            check_owner(row, who_tenant, f"capsule {capsule_id}")
        owner = str(row["tenant_id"])
        holders = [owner] + [t for t in await registry.capsule_holders(conn, capsule_id)
                             if t != owner]
        if row["status"] != "revoked":
            seq = int(row["last_seq"]) + 1
            events = [
                make_event(
                    names.CAPSULE_REVOKED,
                    {"capsule_id": capsule_id, "reason": reason, "owner_tenant": owner},
                    tenant=tenant, producer=PRODUCER, trace_id=call.trace_id, seq=seq,
                    event_id=stable_id("artifact-event", "capsule", capsule_id, seq, tenant),
                )
                for tenant in holders
            ]
            await append_and_apply(call, conn, events)
    return {"capsule_id": capsule_id, "status": "revoked", "tenants": holders}


async def meter_reads(call: Call, tenant: str, session: str, blocks: Sequence[EvidenceBlock]
                      ) -> None:
    """One ``UsageRecorded`` and one ``CapsuleRecalled`` per capsule among ``blocks``."""
    counts = Counter(b.capsule_id for b in blocks if b.capsule_id)
    if not counts:
        return
    price = services(call.ctx).capsule_read_picocents
    events = []
    for capsule_id, n in sorted(counts.items()):
        agent = f"capsule:{capsule_id}"
        usage = usage_id(random_event_id(), agent)
        events.append(make_event(
            names.USAGE_RECORDED,
            {"usage_id": usage, "agent": agent, "tokens": 0, "tool_calls": 1, "storage_bytes": 0,
             "egress_bytes": 0, "token_price_picocents": 0,
             "tool_call_price_picocents": price, "storage_byte_price_picocents": 0,
             "egress_byte_price_picocents": 0, "occurred_at": now_us()},
            tenant=tenant, producer=PRODUCER, session=session, trace_id=call.trace_id,
            event_id=usage,
        ))
        events.append(make_event(
            names.CAPSULE_RECALLED,
            {"action": "memory.capsule.recall", "capsule_id": capsule_id, "blocks": n,
             "principal": f"session:{session}", "usage_id": usage},
            tenant=tenant, producer=PRODUCER, session=session, trace_id=call.trace_id,
        ))
    await call.ctx.appender.publish(events)

