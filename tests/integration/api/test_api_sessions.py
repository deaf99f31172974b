"""`somagent tenant create|list` (the real command) and POST /v1/session/mint side effects."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import asyncpg
import httpx
import pytest
import redis
from edge_helpers import Server, Tenant, read_topic_async, sha

from somagent.api.tenants import hash_api_key
from somagent.config import Settings
from somagent.events.catalog import CONVERSATION, GATEWAY_AUDIT
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration


def somagent(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOMAGENT_HOME": str(settings.home_dir),
           "SOMAGENT_POSTGRES_PORT": str(settings.postgres_port)}
    return subprocess.run([sys.executable, "-m", "somagent.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


async def test_tenant_cli_creates_a_tenant_with_a_hashed_key_and_lists_it(
    stack: RunningStack, client: httpx.AsyncClient
) -> None:
    done = somagent(stack.settings, "tenant", "create", "--name", "Initech", "--plan", "pro",
                    "--residency", "us")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert set(created) == {"tenant", "api_key"}
    conn = await asyncpg.connect(stack.settings.postgres_dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM tenants WHERE tenant_id = $1::uuid",
                                  created["tenant"])
    finally:
        await conn.close()
    assert row["name"] == "Initech" and row["plan"] == "pro" and row["residency"] == "us"
    assert row["api_key_hash"] == hash_api_key(created["api_key"])
    assert created["api_key"] not in row["api_key_hash"]
    listed = json.loads(somagent(stack.settings, "tenant", "list").stdout)
    mine = [t for t in listed if t["tenant"] == created["tenant"]]
    assert mine and "api_key" not in mine[0] and mine[0]["key_id"].startswith("key:")
    bad = somagent(stack.settings, "tenant", "create", "--name", "X", "--residency", "mars")
    assert bad.returncode == 1 and "residency" in bad.stderr
    # The printed key works at the edge.
    r = await client.post("/v1/session/mint", headers={"Authorization":
                          f"Bearer {created['api_key']}"}, json={
        "tenant": created["tenant"], "persona_hash": sha("p"), "policy_hash": DEFAULT_POLICY_HASH,
        "budgets": {"tokens": 10, "tools_per_min": 1}})
    assert r.status_code == 200, r.text


async def test_mint_writes_the_budget_snapshot_and_appends_session_minted(
    client: httpx.AsyncClient, tenant: Tenant, stack: RunningStack, edge: Server
) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    r = await client.post(
        "/v1/session/mint",
        headers={"Authorization": f"Bearer {tenant.api_key}",
                 "traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
        json={"tenant": tenant.tenant, "persona_hash": sha("persona"),
              "policy_hash": DEFAULT_POLICY_HASH, "budgets": {"tokens": 1234, "tools_per_min": 7},
              "capsule_ids": ["finance", "hr"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] == 900 and body["jwt"].count(".") == 2
    session = body["session_id"]
    assert r.headers["x-trace-id"] == trace
    client_redis = redis.Redis.from_url(stack.settings.redis_dsn)
    snapshot = {k.decode(): v.decode() for k, v in client_redis.hgetall(f"sess:{session}").items()}
    assert snapshot["tenant"] == tenant.tenant and snapshot["token_budget"] == "1234"
    assert snapshot["tools_per_min"] == "7" and snapshot["tokens_used"] == "0"
    assert snapshot["capsule_ids"] == "finance,hr"
    assert 890 <= client_redis.ttl(f"sess:{session}") <= 900
    minted = await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "SessionMinted" and str(e["session"]) == session)
    assert minted[0]["payload"]["token_budget"] == 1234
    assert minted[0]["payload"]["capsule_ids"] == ["finance", "hr"]
    assert minted[0]["trace_id"] == trace
    audited = await read_topic_async(
        stack.settings, edge.ctx.codec, GATEWAY_AUDIT,
        lambda e: e["type"] == "GatewayRequestAudited" and e["trace_id"] == trace)
    assert audited[0]["payload"]["path"] == "/v1/session/mint"
    assert audited[0]["payload"]["status"] == 200
    assert audited[0]["payload"]["principal"].startswith("key:")


async def test_unauthenticated_denials_are_audited_with_the_nil_tenant(
    client: httpx.AsyncClient, stack: RunningStack, edge: Server
) -> None:
    trace = "5bf92f3577b34da6a3ce929d0e0e4736"
    r = await client.post("/v1/turn", json={},
                          headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    assert r.status_code == 401
    denied = await read_topic_async(
        stack.settings, edge.ctx.codec, GATEWAY_AUDIT,
        lambda e: e["type"] == "PolicyDenied" and e["trace_id"] == trace)
    assert str(denied[0]["tenant"]) == "00000000-0000-0000-0000-000000000000"
    assert denied[0]["payload"] == {"reason_code": "unauthorized",
                                    "detail": "Authorization: Bearer <credentials> is required",
                                    "path": "/v1/turn", "policy_hash": None,
                                    "rule": "unauthorized"}
