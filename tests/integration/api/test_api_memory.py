"""POST /v1/memory/remember appends the request through the Memory Gateway; the gateway's
remember-guard and projector store it; /v1/memory/recall finds it, for its tenant only."""

from __future__ import annotations

import uuid

import httpx
import pytest
from edge_helpers import Server, Tenant, mint, new_tenant, read_topic_async

from somagent.events.catalog import MEMORY
from somagent.stack.stack import RunningStack
from somagent.wait import until_async

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

    async def recalled() -> list[dict[str, object]] | None:
        r = await client.post("/v1/memory/recall",
                              json={"query": "budget approved", "top_k": 3}, headers=s.auth)
        assert r.status_code == 200, r.text
        hits: list[dict[str, object]] = r.json()["evidence"]
        return hits or None

    hits = await until_async(recalled, timeout_s=30, what="the gateway to store the memory")
    assert hits[0]["memory_id"] == accepted["memory_id"]
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
