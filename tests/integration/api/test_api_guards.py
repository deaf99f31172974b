"""Rate limits, token budgets and admission at the edge, each audited as PolicyDenied."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest
from edge_helpers import Server, Tenant, mint, read_topic_async, turn_body
from redis.asyncio import Redis

from somagent.events.catalog import CONVERSATION, GATEWAY_AUDIT
from somagent.stack.stack import RunningStack
from somagent.tools.gates import GateLimits, RedisGate

pytestmark = pytest.mark.integration


async def test_a_turn_is_refused_while_an_allowed_tools_window_is_full(
    client: httpx.AsyncClient, tenant: Tenant, stack: RunningStack, edge: Server
) -> None:
    s = await mint(client, tenant, tools_per_min=2)
    tool = f"search-{uuid.uuid4().hex[:6]}"
    # The edge only looks at the window; calls fill it (here: the tool broker's own gate).
    for _ in range(3):
        async with client.stream("POST", "/v1/turn", json=turn_body(s, tools=[tool]),
                                 headers=s.auth) as r:
            assert r.status_code == 200
    redis = Redis.from_url(stack.settings.redis_dsn)
    gate = RedisGate(redis, {"default": GateLimits(rate_limit=2, window_ms=60_000)})
    for i in range(2):
        assert (await gate.admit(tenant.tenant, tool, "default", f"call-{i}")).admitted
    await redis.aclose()
    trace = uuid.uuid4().hex
    r = await client.post("/v1/turn", json=turn_body(s, tools=["other-tool", tool]),
                          headers={**s.auth, "traceparent": f"00-{trace}-{'1' * 16}-01"})
    assert r.status_code == 429
    assert r.json()["type"].endswith("/rate-limited") and tool in r.json()["detail"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.json()["retry_after_s"] == int(r.headers["retry-after"])
    # Another tool has its own window; a turn without tools needs none.
    for tools in (["other-tool"], []):
        async with client.stream("POST", "/v1/turn", json=turn_body(s, tools=tools),
                                 headers=s.auth) as ok:
            assert ok.status_code == 200
    denied = await read_topic_async(
        stack.settings, edge.ctx.codec, GATEWAY_AUDIT,
        lambda e: e["type"] == "PolicyDenied" and e["trace_id"] == trace)
    assert denied[0]["payload"]["reason_code"] == "rate-limited"
    assert str(denied[0]["tenant"]) == tenant.tenant
    assert str(denied[0]["session"]) == s.session
    audited = await read_topic_async(
        stack.settings, edge.ctx.codec, GATEWAY_AUDIT,
        lambda e: e["type"] == "GatewayRequestAudited" and e["trace_id"] == trace)
    assert audited[0]["payload"]["status"] == 429
    assert audited[0]["payload"]["principal"] == f"session:{s.session}"


async def test_token_budget_is_preauthorised_and_exhaustion_is_402(
    client: httpx.AsyncClient, tenant: Tenant, stack: RunningStack, edge: Server,
) -> None:
    # Each turn reserves ceil(bytes/4) + 2048 tokens; 5000 fit two turns, not three.
    s = await mint(client, tenant, tokens=5000)
    turns = []
    for _ in range(2):
        async with client.stream("POST", "/v1/turn", json=turn_body(s, "x" * 400),
                                 headers=s.auth) as r:
            assert r.status_code == 200
            turns.append(r.headers["x-turn-id"])
    r = await client.post("/v1/turn", json=turn_body(s, "x" * 400), headers=s.auth)
    assert r.status_code == 402
    body = r.json()
    assert body["type"].endswith("/budget-exhausted")
    assert body["remaining_tokens"] == 5000 - 2 * 2148 and body["required_tokens"] == 2148
    requested = await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and str(e["session"]) == s.session, want=0)
    assert sorted(str(e["turn"]) for e in requested) == sorted(turns)


async def test_concurrent_turns_never_overspend_the_budget(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    s = await mint(client, tenant, tokens=10 * 2049)

    async def attempt() -> int:
        async with client.stream("POST", "/v1/turn", json=turn_body(s, "abcd"),
                                 headers=s.auth) as r:
            return r.status_code

    codes = await asyncio.gather(*(attempt() for _ in range(25)))
    assert codes.count(200) == 10 and codes.count(402) == 15


async def test_admission_brownout_sheds_with_503_and_exposes_its_figures(
    server_factory: Callable[..., Server], tenant: Tenant
) -> None:
    # One worker whose turns take 100 s (prior, nothing measured yet): after one arrival
    # λ = 1/60 per s exceeds kμ = 0.01 per s, so the queue is unstable and all lanes shed.
    shedding = server_factory(workers=1, service_time_prior_s=100.0, ewma_tau_s=60.0)
    async with httpx.AsyncClient(base_url=shedding.url, timeout=30) as c:
        s = await mint(c, tenant)
        async with c.stream("POST", "/v1/turn", json=turn_body(s), headers=s.auth) as r:
            assert r.status_code == 200
        shed = await c.post("/v1/turn", json=turn_body(s), headers=s.auth)
        assert shed.status_code == 503, shed.text
        assert shed.json()["type"].endswith("/overloaded")
        assert int(shed.headers["retry-after"]) >= 1
        metrics = (await c.get("/metrics")).text
    figures = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
               if line.startswith("somagent_edge_admission_")}
    assert figures["somagent_edge_admission_utilisation"] >= 0.95
    assert figures["somagent_edge_admission_p_wait"] == 1.0
    assert figures["somagent_edge_admission_wait_p95_seconds"] == float("inf")
    assert 'somagent_edge_denials_total{reason="overloaded"} 1.0' in metrics
    assert figures["somagent_edge_admission_service_rate"] == pytest.approx(0.01)
