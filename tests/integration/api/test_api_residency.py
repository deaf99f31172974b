"""Region pinning at the edge: a request for a tenant of another region gets 421
Misdirected Request naming the right region, and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from edge_helpers import Server, Session, Tenant, read_topic_async, sha, turn_body

from somagent.api.tenants import create_tenant
from somagent.events.catalog import CONVERSATION
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration


async def _tenant(stack: RunningStack, residency: str) -> Tenant:
    conn = await asyncpg.connect(stack.settings.postgres_dsn)
    try:
        tenant, key = await create_tenant(conn, f"res-{uuid.uuid4().hex[:6]}", "pro", residency)
    finally:
        await conn.close()
    return Tenant(tenant.tenant_id, key)


def _mint_body(tenant: Tenant) -> dict[str, object]:
    return {"tenant": tenant.tenant, "persona_hash": sha("p"), "policy_hash": DEFAULT_POLICY_HASH,
            "budgets": {"tokens": 10_000, "tools_per_min": 1}}


async def test_an_edge_answers_421_for_a_tenant_of_another_region(
    server_factory: Callable[..., Server], stack: RunningStack
) -> None:
    us_edge = server_factory(stack.settings.model_copy(update={"region": "us"}))
    eu_edge = server_factory(stack.settings.model_copy(update={"region": "eu"}))
    eu, us = await _tenant(stack, "eu"), await _tenant(stack, "us")
    async with httpx.AsyncClient(base_url=us_edge.url, timeout=30) as at_us, \
            httpx.AsyncClient(base_url=eu_edge.url, timeout=30) as at_eu:
        r = await at_us.post("/v1/session/mint", json=_mint_body(eu),
                             headers={"Authorization": f"Bearer {eu.api_key}"})
        assert r.status_code == 421, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/misdirected-request")
        assert r.json()["region"] == "eu" and "'eu'" in r.json()["detail"]
        # The EU edge mints; the token presented to the US edge is refused the same way.
        minted = await at_eu.post("/v1/session/mint", json=_mint_body(eu),
                                  headers={"Authorization": f"Bearer {eu.api_key}"})
        assert minted.status_code == 200, minted.text
        s = Session(eu.tenant, minted.json()["session_id"], minted.json()["jwt"])
        session = s.session
        r = await at_us.post("/v1/turn", json=turn_body(s), headers=s.auth)
        assert r.status_code == 421 and r.json()["region"] == "eu"
        # A US tenant is served by the US edge.
        ok = await at_us.post("/v1/session/mint", json=_mint_body(us),
                              headers={"Authorization": f"Bearer {us.api_key}"})
        assert ok.status_code == 200, ok.text
    requested = await read_topic_async(
        stack.settings, us_edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and str(e["session"]) == session, want=0)
    assert requested == []
    minted_at_us = await read_topic_async(
        stack.settings, us_edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "SessionMinted" and str(e["tenant"]) == eu.tenant, want=0)
    assert len(minted_at_us) == 1  # only the EU edge's session
