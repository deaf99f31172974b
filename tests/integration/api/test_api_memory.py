"""POST /v1/memory/remember appends the request; the remember guard and projector
(played here by the memory package's own deciders) store it; /v1/memory/recall finds it."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from edge_helpers import Server, Tenant, mint, new_tenant, read_topic_async

from somagent.events.catalog import MEMORY
from somagent.events.envelope import make_event
from somagent.memory.remember import MemoryProjector, RememberDecider
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration


async def test_remember_then_recall_within_the_tenant_and_its_capsules(
    client: httpx.AsyncClient, tenant: Tenant, stack: RunningStack, edge: Server
) -> None:
    s = await mint(client, tenant, capsules=["finance"])
    fact = f"The Q{uuid.uuid4().int % 4 + 1} budget was approved, mail bob@example.com"
    r = await client.post("/v1/memory/remember",
                          json={"text": fact, "capsule_id": "finance", "reason": "decision"},
                          headers=s.auth)
    assert r.status_code == 202, r.text
    accepted = r.json()
    requested = await read_topic_async(
        stack.settings, edge.ctx.codec, MEMORY,
        lambda e: e["type"] == "MemoryRememberRequested"
        and str(e["event_id"]) == accepted["request_id"])
    event = requested[0]
    assert str(event["tenant"]) == tenant.tenant and str(event["session"]) == s.session
    assert event["payload"]["memory_id"] == accepted["memory_id"]
    assert "bob@example.com" not in event["payload"]["text"]  # redacted before the log

    deps = edge.ctx.memory()
    store, embedder = deps.recaller.store, deps.recaller.embedder
    _, kind, payload = await asyncio.to_thread(
        RememberDecider(deps.guard, store).decide_event, event)
    assert kind == "MemoryRemembered"
    decided = make_event(kind, payload, tenant=tenant.tenant, producer="memory",
                         trace_id=event["trace_id"])
    assert await asyncio.to_thread(MemoryProjector(embedder, store).apply, decided)

    r = await client.post("/v1/memory/recall", json={"query": "budget approved", "top_k": 3},
                          headers=s.auth)
    assert r.status_code == 200, r.text
    hits = r.json()["evidence"]
    assert hits and hits[0]["memory_id"] == accepted["memory_id"]
    # Another tenant sees nothing of it.
    stranger = await mint(client, await new_tenant(stack.settings, "stranger"))
    r = await client.post("/v1/memory/recall", json={"query": "budget approved"},
                          headers=stranger.auth)
    assert r.status_code == 200 and r.json()["evidence"] == []


async def test_capsules_outside_the_session_are_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    s = await mint(client, tenant, capsules=["finance"])
    r = await client.post("/v1/memory/recall", json={"query": "x", "capsule_ids": ["hr"]},
                          headers=s.auth)
    assert r.status_code == 403 and r.json()["type"].endswith("/capsule-not-allowed")
    r = await client.post("/v1/memory/remember", json={"text": "x", "capsule_id": "hr"},
                          headers=s.auth)
    assert r.status_code == 403
    r = await client.post("/v1/memory/recall", json={"query": "x", "top_k": 500},
                          headers=s.auth)
    assert r.status_code == 422
