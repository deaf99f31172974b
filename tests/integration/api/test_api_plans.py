"""Plans at the edge: mint clamps to the tenant's limits; tokens per minute and concurrent
turns per tenant are refused with 429 + Retry-After before anything is appended; QoS
lanes are shed batch first, then interactive (503 + Retry-After)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from edge_helpers import (
    Engine,
    Server,
    Session,
    Tenant,
    new_tenant,
    read_topic_async,
    sha,
    turn_body,
)
from edge_helpers import mint as mint_default
from redis.asyncio import Redis

from somagent.api.session_tokens import verify
from somagent.api.tenants import set_tenant_limits
from somagent.events.catalog import CONVERSATION
from somagent.limits.budget import RedisTokenBudget
from somagent.limits.concurrency import RedisConcurrency
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.stack import RunningStack
from somagent.wait import until_async

pytestmark = pytest.mark.integration


async def _snapshot(stack: RunningStack, session: str) -> dict[str, str]:
    redis = Redis.from_url(stack.settings.redis_dsn)
    try:
        return await RedisTokenBudget(redis).snapshot(session)
    finally:
        await redis.aclose()


async def _slots(stack: RunningStack, tenant: str, release: str | None = None) -> int:
    redis = Redis.from_url(stack.settings.redis_dsn)
    try:
        slots = RedisConcurrency(redis)
        if release is not None:
            await slots.release(tenant, release)
        return await slots.held(tenant)
    finally:
        await redis.aclose()


async def _tenant_with(stack: RunningStack, limits: dict[str, Any],
                       profile: dict[str, Any] | None = None) -> Tenant:
    tenant = await new_tenant(stack.settings, "plans")
    conn = await asyncpg.connect(stack.settings.postgres_dsn)
    try:
        await set_tenant_limits(conn, tenant.tenant, limits, profile)
    finally:
        await conn.close()
    return tenant


async def _mint(client: httpx.AsyncClient, tenant: Tenant, **extra: Any) -> httpx.Response:
    body = {"tenant": tenant.tenant, "persona_hash": sha("persona"),
            "policy_hash": DEFAULT_POLICY_HASH, "budgets": {"tokens": 100_000, "tools_per_min": 60},
            **extra}
    return await client.post("/v1/session/mint", json=body,
                             headers={"Authorization": f"Bearer {tenant.api_key}"})


def _session(tenant: Tenant, r: httpx.Response) -> Session:
    assert r.status_code == 200, r.text
    return Session(tenant.tenant, r.json()["session_id"], r.json()["jwt"])


async def _requested(stack: RunningStack, edge: Server, session: str) -> list[dict[str, Any]]:
    return await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and str(e["session"]) == session, want=0)


async def test_mint_clamps_budgets_and_lane_to_the_tenants_plan(
    client: httpx.AsyncClient, stack: RunningStack, edge: Server
) -> None:
    tenant = await _tenant_with(stack, {"max_tokens_per_session": 5000, "tools_per_min": 7,
                                        "tokens_per_min": 9000, "concurrent_turns": 3},
                                {"lane": "batch"})
    r = await _mint(client, tenant, lane="interactive")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["budgets"] == {"tokens": 5000, "tools_per_min": 7}
    assert body["lane"] == "batch"
    assert sorted(body["clamped"]) == ["lane", "tokens", "tools_per_min"]
    claims = verify(edge.ctx.keyring, body["jwt"])
    assert (claims.token_budget, claims.tools_per_min, claims.lane) == (5000, 7, "batch")
    assert (claims.tokens_per_min, claims.concurrent_turns) == (9000, 3)
    snapshot = await _snapshot(stack, body["session_id"])
    assert snapshot["token_budget"] == "5000" and snapshot["tools_per_min"] == "7"
    minted = await read_topic_async(
        stack.settings, edge.ctx.codec, "conversation.events",
        lambda e: e["type"] == "SessionMinted" and str(e["session"]) == body["session_id"])
    assert minted[0]["payload"]["token_budget"] == 5000
    # Within the limits nothing is lowered; a bad lane is a 422 and mints nothing.
    within = (await _mint(client, tenant, budgets={"tokens": 10, "tools_per_min": 1})).json()
    assert within["budgets"] == {"tokens": 10, "tools_per_min": 1} and within["clamped"] == []
    bad = await _mint(client, tenant, lane="express")
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_tokens_per_minute_are_throttled_per_tenant_across_sessions(
    client: httpx.AsyncClient, stack: RunningStack, edge: Server
) -> None:
    # Each turn reserves ceil(400/4) + 2048 = 2148 tokens; 5000 per minute fit two turns.
    tenant = await _tenant_with(stack, {"tokens_per_min": 5000})
    first = _session(tenant, await _mint(client, tenant))
    second = _session(tenant, await _mint(client, tenant))
    started = []
    for s in (first, second):
        async with client.stream("POST", "/v1/turn", json=turn_body(s, "x" * 400),
                                 headers=s.auth) as r:
            assert r.status_code == 200
            started.append(r.headers["x-turn-id"])
    before = await _snapshot(stack, second.session)
    r = await client.post("/v1/turn", json=turn_body(second, "x" * 400), headers=second.auth)
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("/tokens-per-minute-exceeded")
    assert tenant.tenant in problem["detail"]
    # 5000 - 4296 = 704 left, refilling 5000/60 per s: 1444 more tokens take ~17.3 s.
    assert 10 <= int(r.headers["retry-after"]) <= 20
    assert problem["retry_after_s"] == int(r.headers["retry-after"])
    # Nothing was appended and the session's budget got its reservation back.
    assert await _snapshot(stack, second.session) == before
    requested = await _requested(stack, edge, second.session)
    assert [str(e["turn"]) for e in requested] == [started[1]]
    # Another tenant is not affected.
    other = await mint_default(client, await new_tenant(stack.settings))
    async with client.stream("POST", "/v1/turn", json=turn_body(other, "x" * 400),
                             headers=other.auth) as ok:
        assert ok.status_code == 200


async def test_concurrent_turns_per_tenant_are_limited_until_one_completes(
    client: httpx.AsyncClient, stack: RunningStack, edge: Server, engine: Engine
) -> None:
    tenant = await _tenant_with(stack, {"concurrent_turns": 2})
    s = _session(tenant, await _mint(client, tenant))
    running = []
    for _ in range(2):
        async with client.stream("POST", "/v1/turn", json=turn_body(s), headers=s.auth) as r:
            assert r.status_code == 200
            running.append(r.headers["x-turn-id"])
    r = await client.post("/v1/turn", json=turn_body(s), headers=s.auth)
    assert r.status_code == 429 and r.json()["type"].endswith("/too-many-concurrent-turns")
    assert r.headers["retry-after"] == "1"
    assert len(await _requested(stack, edge, s.session)) == 2
    # A turn whose stream sees TurnCompleted frees its slot.
    async with client.stream("POST", "/v1/turn", json=turn_body(s), headers=s.auth) as r:
        assert r.status_code == 429
    await _slots(stack, tenant.tenant, release=running[0])  # as if its stream had ended
    async with client.stream("POST", "/v1/turn", json=turn_body(s), headers=s.auth) as r:
        assert r.status_code == 200
        turn, trace = r.headers["x-turn-id"], r.headers["x-trace-id"]
        await asyncio.to_thread(engine.append, s.tenant, s.session, turn, trace)
        async for _ in r.aiter_bytes():
            pass  # to the end: TurnCompleted

    async def freed() -> bool:
        return await _slots(stack, tenant.tenant) == 1

    await until_async(freed, timeout_s=10, what="the completed turn's slot to be freed")
    async with client.stream("POST", "/v1/turn", json=turn_body(s), headers=s.auth) as r:
        assert r.status_code == 200


async def test_lanes_are_shed_batch_first_then_interactive(
    server_factory: Callable[..., Server], stack: RunningStack
) -> None:
    # One worker, 51 s per turn (prior), arrival EWMA over 60 s: after one admitted turn
    # ρ = 0.85 (> 0.7: batch shed; P95 wait ~960 s < 4 x 300 s: interactive admitted);
    # after two, ρ = 1.7 (unstable: every lane shed).
    shedding = server_factory(workers=1, service_time_prior_s=51.0, ewma_tau_s=60.0,
                              slo_wait_p95_s=300.0)
    tenant = await new_tenant(stack.settings, "lanes")
    async with httpx.AsyncClient(base_url=shedding.url, timeout=30) as c:
        batch = _session(tenant, await _mint(c, tenant, lane="batch"))
        interactive = _session(tenant, await _mint(c, tenant))
        codes: list[tuple[str, int, str]] = []
        for s, lane in ((batch, "batch"), (batch, "batch"), (interactive, "interactive"),
                        (interactive, "interactive"), (batch, "batch")):
            async with c.stream("POST", "/v1/turn", json=turn_body(s), headers=s.auth) as r:
                body = (await r.aread()).decode() if r.status_code != 200 else ""
                codes.append((lane, r.status_code, r.headers.get("retry-after", "")))
                if r.status_code == 503:
                    assert '"lane":"' + lane + '"' in body.replace(" ", "")
                    assert "/overloaded" in body
        metrics = (await c.get("/metrics")).text
    assert [(lane, code) for lane, code, _ in codes] == [
        ("batch", 200), ("batch", 503), ("interactive", 200), ("interactive", 503),
        ("batch", 503)]
    assert all(1 <= int(ra) <= 60 for _, code, ra in codes if code == 503)
    assert 'somagent_edge_admission_shed_total{lane="batch"} 2.0' in metrics
    assert 'somagent_edge_admission_shed_total{lane="interactive"} 1.0' in metrics
    requested = await read_topic_async(
        stack.settings, shedding.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and str(e["tenant"]) == tenant.tenant, want=2)
    assert sorted(e["payload"]["lane"] for e in requested) == ["batch", "interactive"]
    assert uuid.UUID(str(requested[0]["turn"]))
