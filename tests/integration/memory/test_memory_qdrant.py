"""Recall and remember end to end: the store contract, against both embedded engines."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import numpy as np
import pytest
from memory_engines import Engine, raw_payloads

from somagent.contract.ids import memory_event_id
from somagent.events.codec import EventCodec
from somagent.events.envelope import make_event, now_us
from somagent.memory.embedder import HrrEmbedder
from somagent.memory.exceptions import InvalidRecallRequest, MemoryStoreError
from somagent.memory.guard import RememberGuard, RememberRequest
from somagent.memory.model import MemoryRecord
from somagent.memory.recall import Recaller
from somagent.memory.remember import (
    CAPSULE_REVOKED,
    MEMORY_REMEMBER_REJECTED,
    MEMORY_REMEMBER_REQUESTED,
    MEMORY_REMEMBERED,
    MemoryProjector,
    RememberDecider,
    requested_payload,
)
from somagent.memory.store import OwningStore

pytestmark = pytest.mark.integration

NOW_US = 1_764_000_000_000_000


class Log:
    """The memory.events partition of one tenant, as a list the test appends to."""

    def __init__(self, guard: RememberGuard, decider: RememberDecider, projector: MemoryProjector):
        self.guard, self.decider, self.projector = guard, decider, projector
        self.events: list[dict[str, Any]] = []

    def append(self, event: dict[str, Any]) -> int:
        self.events.append(event)
        return len(self.events) - 1

    def remember(
        self, tenant: str, text: str, capsule_id: str | None = None, deliver: int = 1
    ) -> dict[str, Any]:
        """Request → guard decision → projector, as the Faust agents would; returns the decision."""
        request = RememberRequest(
            tenant=tenant, text=text, created_at_us=NOW_US, capsule_id=capsule_id, source="test"
        )
        request_id = str(uuid.uuid4())
        envelope = {
            "event_id": request_id,
            "type": MEMORY_REMEMBER_REQUESTED,
            "ts": NOW_US,
            "tenant": tenant,
            "trace_id": f"trace-{request_id[:8]}",
            "payload": requested_payload(self.guard, request),
        }
        self.append(envelope)
        decision: dict[str, Any] = {}
        for _ in range(deliver):  # at-least-once: the guard may see the request again
            event_id, kind, payload = self.decider.decide_event(envelope)
            decision = {
                "event_id": event_id,
                "type": kind,
                "ts": NOW_US,
                "tenant": tenant,
                "trace_id": envelope["trace_id"],
                "payload": payload,
            }
            offset = self.append(decision)
            self.projector.apply(decision, position=(0, offset))
        return decision


@pytest.fixture
def log(guard: RememberGuard, decider: RememberDecider, projector: MemoryProjector) -> Log:
    return Log(guard, decider, projector)


async def test_recall_finds_what_was_remembered(log: Log, recaller: Recaller) -> None:
    facts = [
        "The user prefers dark roast coffee in the morning",
        "The user's flight to Lisbon leaves on Friday at 9",
        "Quarterly revenue grew by twelve percent in Europe",
    ]
    decisions = [log.remember("acme", fact) for fact in facts]
    assert all(d["type"] == MEMORY_REMEMBERED for d in decisions)
    evidence = await recaller.recall("acme", "when is my flight to Lisbon?", top_k=3)
    assert evidence[0].text == facts[1]
    assert evidence[0].memory_id == decisions[1]["payload"]["memory_id"]
    assert evidence[0].trace_id == decisions[1]["trace_id"]
    assert evidence[0].source == "test" and evidence[0].created_at_us == NOW_US
    assert [e.score for e in evidence] == sorted((e.score for e in evidence), reverse=True)
    assert evidence[0].score > 0.3 > evidence[1].score


async def test_other_tenants_memories_are_never_returned(log: Log, recaller: Recaller) -> None:
    log.remember("tenant-a", "The vault code is kept in the blue folder")
    for i in range(20):
        log.remember("tenant-b", f"The vault code is kept in the blue folder number {i}")
    evidence = await recaller.recall("tenant-a", "The vault code is kept in the blue folder", 50)
    assert len(evidence) == 1
    assert evidence[0].text == "The vault code is kept in the blue folder"
    assert await recaller.recall("tenant-c", "vault code blue folder", 50) == []
    assert recaller.store.count("tenant-b") == 20


async def test_capsule_filter(log: Log, recaller: Recaller) -> None:
    log.remember("acme", "Capsule one says the sky is green", capsule_id="c1")
    log.remember("acme", "Capsule two says the sky is purple", capsule_id="c2")
    log.remember("acme", "Outside any capsule the sky is blue")
    everything = await recaller.recall("acme", "what colour is the sky", 10)
    assert len(everything) == 3
    only_c2 = await recaller.recall("acme", "what colour is the sky", 10, capsule_ids=["c2"])
    assert [e.capsule_id for e in only_c2] == ["c2"]
    both = await recaller.recall("acme", "what colour is the sky", 10, capsule_ids=["c1", "c2"])
    assert sorted(e.capsule_id or "" for e in both) == ["c1", "c2"]
    assert await recaller.recall("acme", "sky", 10, capsule_ids=[]) == []
    assert await recaller.recall("acme", "sky", 10, capsule_ids=["nope"]) == []


async def test_redelivery_is_idempotent(log: Log, store: OwningStore) -> None:
    decision = log.remember("acme", "Remember the milk", deliver=3)
    # The redelivered request is accepted again (same event id), not called a duplicate of itself.
    kinds = [e["type"] for e in log.events[1:]]
    assert kinds == [MEMORY_REMEMBERED] * 3
    assert len({e["event_id"] for e in log.events[1:]}) == 1
    assert decision["event_id"] == str(
        memory_event_id(decision["payload"]["memory_id"], MEMORY_REMEMBERED)
    )
    assert store.count("acme") == 1
    # The projector applying the same event again changes nothing.
    log.projector.apply(decision)
    assert store.count("acme") == 1
    # A second, distinct request with the same text is a duplicate.
    again = log.remember("acme", "remember  the MILK")
    assert again["type"] == MEMORY_REMEMBER_REJECTED
    assert again["payload"]["reason_code"] == "duplicate"
    assert again["payload"]["memory_id"] == decision["payload"]["memory_id"]
    assert store.count("acme") == 1


def test_store_upsert_is_idempotent(store: OwningStore, embedder: HrrEmbedder) -> None:
    vector = embedder.embed(["same memory"])[0]
    record = MemoryRecord(
        str(uuid.uuid4()), "t", "same memory", vector, "api", NOW_US, "tr", None, "h" * 64
    )
    for _ in range(3):
        store.upsert([record, record])
    assert store.count("t") == 1
    assert store.exists_hash("t", "h" * 64)
    assert not store.exists_hash("other", "h" * 64)
    found = store.get("t", record.memory_id)
    assert found is not None and found.text == "same memory"
    assert store.get("other", record.memory_id) is None


async def test_pii_never_reaches_the_store_in_clear(
    log: Log, store: OwningStore, recaller: Recaller
) -> None:
    secrets = ["alice@example.com", "+49 30 1234 5678", "4111 1111 1111 1111", "123-45-6789"]
    decision = log.remember(
        "acme", f"Alice {secrets[0]} phone {secrets[1]} card {secrets[2]} ssn {secrets[3]}"
    )
    assert decision["type"] == MEMORY_REMEMBERED
    assert decision["payload"]["pii_kinds"] == ["email", "phone", "card", "ssn"]
    payloads = raw_payloads(store)
    stored = repr(payloads)
    texts = [str(p["text"]) for p in payloads]
    outside_tokens = re.sub(r"\D", "", re.sub(r"pii:[0-9a-f]{16}", " ", " ".join(texts)))
    for secret in secrets:
        assert secret not in stored
        assert re.sub(r"\D", "", secret) not in outside_tokens or not re.sub(r"\D", "", secret)
    assert len(re.findall(r"pii:[0-9a-f]{16}", texts[0])) == 4
    # Nor did the clear values reach the log.
    assert not any(secret in repr(log.events) for secret in secrets)
    # A query naming the same address finds the memory through its keyed token.
    evidence = await recaller.recall("acme", f"what about {secrets[0]}", 1)
    assert evidence and evidence[0].memory_id == decision["payload"]["memory_id"]


def test_near_duplicates(store: OwningStore, embedder: HrrEmbedder) -> None:
    guard = RememberGuard(b"integration-key-0123456789abcdef", near_duplicate_cosine=0.97)
    log = Log(guard, RememberDecider(guard, store, embedder), MemoryProjector(embedder, store))
    long_fact = (
        "The quarterly planning meeting with the infrastructure team moved to the large "
        "conference room on the third floor, starting at ten in the morning"
    )
    assert log.remember("acme", long_fact)["type"] == MEMORY_REMEMBERED
    near = log.remember("acme", long_fact.replace("ten", "ten,") + ".")
    assert near["type"] == MEMORY_REMEMBER_REJECTED
    assert near["payload"]["reason_code"] == "near_duplicate"
    other = log.remember("acme", "The infrastructure team prefers the small room on Fridays")
    assert other["type"] == MEMORY_REMEMBERED


async def test_read_your_writes(log: Log, recaller: Recaller) -> None:
    """The edge knows the memory id when it appends the request and waits for it."""
    request = RememberRequest(tenant="acme", text="The garage code is 4-4-2", created_at_us=NOW_US)
    memory_id = requested_payload(log.guard, request)["memory_id"]
    task = asyncio.create_task(asyncio.to_thread(log.remember, "acme", request.text))
    outcome = await log.projector.wait_for(memory_id, timeout_s=10)
    await task
    assert outcome.remembered and outcome.memory_id == memory_id
    evidence = await recaller.recall("acme", "garage code", 1)
    assert evidence[0].memory_id == memory_id
    # By position: everything up to the last appended offset has been applied.
    await log.projector.wait_for_offset(0, len(log.events) - 1, timeout_s=10)
    # A rejection is an outcome too; a duplicate keeps the memory's remembered outcome.
    rejected = log.remember("acme", "   ")
    refused = log.projector.outcome(rejected["payload"]["request_id"])
    assert refused is not None and not refused.remembered and refused.reason_code == "empty"
    duplicate = log.remember("acme", request.text)
    assert duplicate["payload"]["reason_code"] == "duplicate"
    kept = log.projector.outcome(memory_id)
    assert kept is not None and kept.remembered


async def test_same_text_in_two_capsules_is_two_memories(
    log: Log, recaller: Recaller, store: OwningStore
) -> None:
    one = log.remember("acme", "Budget is 10k", capsule_id="c1")
    two = log.remember("acme", "Budget is 10k", capsule_id="c2")
    bare = log.remember("acme", "Budget is 10k")
    assert {d["type"] for d in (one, two, bare)} == {MEMORY_REMEMBERED}
    assert len({d["payload"]["memory_id"] for d in (one, two, bare)}) == 3
    assert store.count("acme") == 3
    assert log.remember("acme", "budget is 10K", capsule_id="c2")["type"] == (
        MEMORY_REMEMBER_REJECTED
    )
    assert log.remember("acme", "budget is 10K")["type"] == MEMORY_REMEMBER_REJECTED


async def test_capsule_revoke_removes_its_memories(log: Log, recaller: Recaller) -> None:
    log.remember("acme", "Revoked capsule fact about penguins", capsule_id="c-old")
    log.remember("acme", "Kept fact about penguins")
    log.projector.apply(
        {
            "type": CAPSULE_REVOKED,
            "tenant": "acme",
            "payload": {"capsule_id": "c-old", "reason": ""},
        }
    )
    evidence = await recaller.recall("acme", "penguins", 10)
    assert [e.text for e in evidence] == ["Kept fact about penguins"]


async def test_recall_validation(recaller: Recaller) -> None:
    for top_k in (0, 51, True):
        with pytest.raises(InvalidRecallRequest):
            await recaller.recall("acme", "q", top_k)
    with pytest.raises(ValueError):
        await recaller.recall("acme", "   ")
    with pytest.raises(InvalidRecallRequest):
        await recaller.recall("", "q")
    with pytest.raises(InvalidRecallRequest):
        await recaller.recall("acme", "q", capsule_ids="c1")  # type: ignore[arg-type]


def test_collection_dimension_mismatch_is_refused(engine: Engine, store: OwningStore) -> None:
    with pytest.raises(MemoryStoreError, match=store.collection):
        engine.make(512, store.collection).ensure_collection()
    with pytest.raises(MemoryStoreError):
        store.upsert(
            [
                MemoryRecord(
                    "00000000-0000-0000-0000-000000000001",
                    "t",
                    "x",
                    np.zeros(3, dtype=np.float32),
                    "api",
                    0,
                    "",
                    None,
                    "",
                )
            ]
        )


def test_memories_survive_reopening_the_directory(
    engine: Engine, tmp_path: Any, embedder: HrrEmbedder
) -> None:
    first = engine.open_at(tmp_path, embedder.dim)
    first.ensure_collection()
    vector = embedder.embed(["durable"])[0]
    memory_id = str(uuid.uuid4())
    first.upsert([MemoryRecord(memory_id, "t", "durable", vector, "api", NOW_US, "", None, "h")])
    first.close()
    second = engine.open_at(tmp_path, embedder.dim)
    second.ensure_collection()
    hits = second.search("t", vector, 1)
    assert hits[0].memory_id == memory_id and hits[0].score == pytest.approx(1.0, abs=1e-5)
    second.close()


async def test_through_the_avro_contract(
    guard: RememberGuard, decider: RememberDecider, projector: MemoryProjector, recaller: Recaller
) -> None:
    """Events as the wiring sees them: encoded and decoded by the real codec (UUIDs, datetimes)."""
    codec = EventCodec()
    tenant, trace = str(uuid.uuid4()), "ab" * 16
    request = RememberRequest(
        tenant=tenant, text="Ship the order to carol@example.org", created_at_us=now_us()
    )
    payload = requested_payload(guard, request)
    request_id = uuid.uuid4()
    wire = codec.encode(
        make_event(
            MEMORY_REMEMBER_REQUESTED,
            payload,
            tenant=tenant,
            producer="edge",
            trace_id=trace,
            event_id=request_id,
        )
    )
    event_id, kind, decision = decider.decide_event(codec.decode(wire))
    assert kind == MEMORY_REMEMBERED and decision["memory_id"] == payload["memory_id"]
    decided = codec.decode(
        codec.encode(
            make_event(
                kind,
                decision,
                tenant=tenant,
                producer="memory-guard",
                trace_id=trace,
                event_id=uuid.UUID(event_id),
            )
        )
    )
    assert projector.apply(decided, position=(2, 7))
    evidence = await recaller.recall(tenant, "where does the order ship to carol@example.org", 1)
    assert evidence[0].memory_id == payload["memory_id"]
    assert evidence[0].trace_id == trace
    assert "carol@example.org" not in evidence[0].text
    assert (await projector.wait_for(payload["memory_id"], timeout_s=1)).remembered
    # Redelivery of the decoded decision is a no-op.
    assert projector.apply(decided, position=(2, 7))
    assert recaller.store.count(tenant) == 1
