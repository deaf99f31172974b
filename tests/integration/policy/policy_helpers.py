"""Helpers of the constitution tests: register/activate over HTTP, mint, read events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from edge_helpers import Tenant, read_topic_async, sha

from somagent.config import Settings
from somagent.events.codec import EventCodec
from somagent.policy import constitution
from somagent.policy.demo import operator_headers


def unique_policy(name: str, *, tools: list[str], hosts: list[str] | None = None,
                  memory: str = "read-write", max_tokens: int = 200_000,
                  rego: str | None = None) -> dict[str, Any]:
    from somagent.policy.demo import demo_policy

    return demo_policy(f"{name}-{uuid.uuid4().hex[:8]}", tools=tools, hosts=hosts,
                       memory=memory, max_tokens=max_tokens, rego=rego)


async def register(client: httpx.AsyncClient, settings: Settings,
                   document: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/policies", json=document, headers=operator_headers(settings))


async def sign_with(client: httpx.AsyncClient, settings: Settings, hash_: str,
                    key_index: int) -> httpx.Response:
    key = constitution.local_private_keys(settings)[key_index]
    key_id, signature = constitution.sign(key, hash_)
    return await client.post(f"/v1/policies/{hash_}/signatures", headers=operator_headers(settings),
                             json={"key_id": key_id, "signature": signature})


async def activate(client: httpx.AsyncClient, settings: Settings,
                   document: dict[str, Any]) -> str:
    r = await register(client, settings, document)
    assert r.status_code in (200, 201), r.text
    hash_ = str(r.json()["policy_hash"])
    for i in range(settings.constitution_k):
        s = await sign_with(client, settings, hash_, i)
        assert s.status_code == 200, s.text
    assert s.json()["status"] == "active"
    return hash_


async def mint_under(client: httpx.AsyncClient, tenant: Tenant, policy_hash: str,
                     tokens: int = 10_000) -> httpx.Response:
    return await client.post("/v1/session/mint", headers={
        "Authorization": f"Bearer {tenant.api_key}"}, json={
        "tenant": tenant.tenant, "persona_hash": sha("persona"), "policy_hash": policy_hash,
        "budgets": {"tokens": tokens, "tools_per_min": 60}})


async def events(settings: Settings, codec: EventCodec, topic: str, kind: str, *,
                 want: int = 1, timeout_s: float = 30.0, **payload: Any) -> list[dict[str, Any]]:
    """Events of ``kind`` on ``topic`` whose payload has every ``payload`` item (``want=0``:
    all of them up to the log end now)."""
    def match(e: dict[str, Any]) -> bool:
        return e["type"] == kind and all(e["payload"].get(k) == v for k, v in payload.items())

    return await read_topic_async(settings, codec, topic, match, want=want, timeout_s=timeout_s)
