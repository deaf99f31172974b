"""Erasure: DELETE /v1/tenants/{id}/data destroys the tenant's data keys (crypto-shredding),
appends TenantDataErased, and the Memory Gateway forgets every vector of the tenant; an
edge with sealing on appends sealed text and streams sealed answers opened."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from edge_helpers import Server, mint, new_tenant, read_topic_async, turn_body

from somagent.contract import names
from somagent.contract.ids import event_id
from somagent.credentials import operator_token
from somagent.erasure.cipher import open_sealed, seal
from somagent.erasure.exceptions import KeyDestroyed
from somagent.erasure.keys import TenantKeys
from somagent.erasure.master import master_key
from somagent.events.catalog import CONVERSATION, MEMORY
from somagent.events.envelope import make_event
from somagent.events.examples import example_payloads
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_codec
from somagent.stack.stack import RunningStack
from somagent.wait import until_async

pytestmark = pytest.mark.integration


async def test_data_keys_are_created_once_and_destroyed_for_good(stack: RunningStack) -> None:
    tenant = (await new_tenant(stack.settings, "keys")).tenant
    pool = await asyncpg.create_pool(stack.settings.postgres_dsn, min_size=1, max_size=8)
    try:
        keys = TenantKeys(pool, master_key(stack.settings.home_dir))
        live = await asyncio.gather(*(keys.live(tenant) for _ in range(8)))
        assert len({key_id for key_id, _ in live}) == 1 and len({k for _, k in live}) == 1
        key_id, data_key = live[0]
        sealed = seal(data_key, key_id, tenant, "TurnRequested.text", "call me at noon")
        assert open_sealed(await keys.by_id(tenant, key_id), tenant, "TurnRequested.text",
                           sealed) == "call me at noon"
        stored = await pool.fetchval(
            "SELECT wrapped_key FROM tenant_data_keys WHERE key_id = $1", key_id)
        assert data_key not in bytes(stored)  # only the wrapped key is stored
        destroyed = await keys.destroy(tenant)
        assert destroyed.first and destroyed.key_ids == (key_id,)
        with pytest.raises(KeyDestroyed):
            await keys.by_id(tenant, key_id)
        assert await pool.fetchval(
            "SELECT wrapped_key IS NULL FROM tenant_data_keys WHERE key_id = $1", key_id)
        again = await keys.destroy(tenant)
        assert not again.first and again.key_ids == (key_id,)
        assert (await keys.live(tenant))[0] != key_id  # new data gets a new key
    finally:
        await pool.close()


async def test_erasure_needs_the_operator_and_an_existing_tenant(
    client: httpx.AsyncClient, stack: RunningStack
) -> None:
    tenant = await new_tenant(stack.settings, "erase-auth")
    s = await mint(client, tenant)
    path = f"/v1/tenants/{tenant.tenant}/data"
    for credential in (tenant.api_key, s.jwt):
        r = await client.delete(path, headers={"Authorization": f"Bearer {credential}"})
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/problem+json"
    operator = {"Authorization": f"Bearer {operator_token(stack.settings.home_dir)}"}
    r = await client.delete(f"/v1/tenants/{uuid.uuid4()}/data", headers=operator)
    assert r.status_code == 404 and r.json()["type"].endswith("/not-found")
    r = await client.delete(path)
    assert r.status_code == 401


async def test_erasure_destroys_the_key_and_recall_returns_nothing_for_that_tenant_only(
    client: httpx.AsyncClient, stack: RunningStack, edge: Server
) -> None:
    gone = await new_tenant(stack.settings, "erased")
    kept = await new_tenant(stack.settings, "kept")
    sessions = {t.tenant: await mint(client, t) for t in (gone, kept)}
    pool = await asyncpg.create_pool(stack.settings.postgres_dsn, min_size=1, max_size=2)
    try:
        key_id, _ = await TenantKeys(pool, master_key(stack.settings.home_dir)).live(gone.tenant)
    finally:
        await pool.close()
    for s in sessions.values():
        r = await client.post("/v1/memory/remember", headers=s.auth, json={
            "text": f"The launch code word is heliotrope {uuid.uuid4().hex[:6]}",
            "reason": "decision"})
        assert r.status_code == 202, r.text

    async def recall(tenant: str) -> list[object]:
        r = await client.post("/v1/memory/recall", headers=sessions[tenant].auth,
                              json={"query": "launch code word", "top_k": 3})
        assert r.status_code == 200, r.text
        hits: list[object] = r.json()["evidence"]
        return hits

    for t in (gone.tenant, kept.tenant):
        await until_async(lambda t=t: recall(t), timeout_s=30, what=f"memories of {t}")
    operator = {"Authorization": f"Bearer {operator_token(stack.settings.home_dir)}"}
    r = await client.delete(f"/v1/tenants/{gone.tenant}/data", headers=operator)
    assert r.status_code == 202, r.text
    assert r.json()["key_ids"] == [key_id] and r.json()["keys_destroyed_now"] is True
    erased = await read_topic_async(
        stack.settings, edge.ctx.codec, MEMORY,
        lambda e: e["type"] == "TenantDataErased" and str(e["tenant"]) == gone.tenant)
    assert erased[0]["payload"]["key_id"] == key_id
    assert erased[0]["payload"]["requested_by"] == "operator"

    async def forgotten() -> bool:
        return await recall(gone.tenant) == []

    await until_async(forgotten, timeout_s=30, what="the gateway to forget the erased tenant")
    assert await recall(kept.tenant)  # the other tenant keeps its memories
    again = await client.delete(f"/v1/tenants/{gone.tenant}/data", headers=operator)
    assert again.status_code == 202 and again.json()["keys_destroyed_now"] is False


async def test_a_sealing_edge_appends_sealed_text_and_streams_it_opened(
    server_factory: Callable[..., Server], stack: RunningStack
) -> None:
    sealing = stack.settings.model_copy(update={"seal_pii": True})
    edge = server_factory(sealing)
    tenant = await new_tenant(stack.settings, "sealing-edge")
    secret, answer = "my passport number is X1234567", "Noted: X1234567"
    async with httpx.AsyncClient(base_url=edge.url, timeout=30) as c:
        s = await mint(c, tenant)
        async with c.stream("POST", "/v1/turn", json=turn_body(s, secret), headers=s.auth) as r:
            assert r.status_code == 200
            turn, trace = r.headers["x-turn-id"], r.headers["x-trace-id"]
            # The engine's side, sealed as a sealing worker appends it.
            producer = EventProducer(sealing, kafka_codec(sealing))
            try:
                for seq, kind in enumerate((names.TURN_ANSWERED, names.TURN_COMPLETED), 1):
                    payload = {**example_payloads(1)[kind]}
                    if kind == names.TURN_ANSWERED:
                        payload["text"] = answer
                    producer.send(make_event(kind, payload, tenant=tenant.tenant,
                                             producer="turns", session=s.session, turn=turn,
                                             trace_id=trace, seq=seq,
                                             event_id=event_id(turn, kind)))
                producer.flush()
            finally:
                producer.close()
            streamed = (await asyncio.wait_for(r.aread(), 30)).decode()
    assert answer in streamed and "enc1:" not in streamed  # the edge opened it
    plain = kafka_codec(stack.settings)
    logged = await read_topic_async(
        stack.settings, plain, CONVERSATION,
        lambda e: str(e.get("turn")) == turn and e["type"] in ("TurnRequested", "TurnAnswered"),
        want=2)
    assert len(logged) == 2
    assert all(str(e["payload"]["text"]).startswith("enc1:") for e in logged)
