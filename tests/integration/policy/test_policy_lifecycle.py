"""Policies by hash against the real stack (OPA server, Kafka, Postgres): register,
k-of-n activation, mint refusals with the rule named, revocation."""

from __future__ import annotations

import hashlib

import httpx
import pytest
import rfc8785
from edge_helpers import Tenant
from policy_helpers import activate, events, mint_under, register, sign_with, unique_policy

from somagent.events.catalog import GATEWAY_AUDIT, POLICY
from somagent.events.codec import EventCodec
from somagent.policy.demo import operator_headers
from somagent.policy.opa import DATA_ROOT, OpaClient
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration


def _problem(r: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = r.json()
    assert str(body["type"]).endswith("/" + slug), body
    return body


async def _opa_data(stack: RunningStack, hash_: str) -> object:
    opa = OpaClient(stack.settings.opa_endpoint)
    try:
        return await opa.get_data(f"{DATA_ROOT}/{hash_}")
    finally:
        await opa.close()


async def test_register_activate_k_of_n_mint_and_revoke(
        client: httpx.AsyncClient, stack: RunningStack, tenant: Tenant, codec: EventCodec
) -> None:
    settings = stack.settings
    document = unique_policy("lifecycle", tools=["calc"], max_tokens=50_000)
    r = await register(client, settings, document)
    assert r.status_code == 201, r.text
    hash_ = r.json()["policy_hash"]
    # The hash is sha256 of the RFC 8785 form, whatever the key order of the body.
    assert hash_ == "sha256-" + hashlib.sha256(rfc8785.dumps(document)).hexdigest()
    again = await register(client, settings, dict(reversed(list(document.items()))))
    assert again.status_code == 200 and again.json()["policy_hash"] == hash_
    assert (r.json()["k"], r.json()["n"]) == (settings.constitution_k, 3)

    # Registered but unsigned: mint refuses it and says so; the denial names hash and rule.
    body = _problem(await mint_under(client, tenant, hash_), 403, "policy-not-active")
    assert hash_ in str(body["detail"])
    denied = await events(settings, codec, GATEWAY_AUDIT, "PolicyDenied", policy_hash=hash_,
                          rule="policy-not-active")
    assert str(denied[0]["tenant"]) == tenant.tenant

    # A signature from a key outside the constitution, or over another hash, is refused.
    bad = await sign_with(client, settings, "sha256-" + "0" * 64, 0)
    _problem(bad, 404, "policy-not-found")
    anonymous = await client.post(f"/v1/policies/{hash_}/signatures",
                                  json={"key_id": "A" * 43, "signature": "B" * 86})
    assert anonymous.status_code == 401  # the operator credential is required
    forged = await client.post(f"/v1/policies/{hash_}/signatures",
                               headers=operator_headers(settings),
                               json={"key_id": "A" * 43, "signature": "B" * 86})
    _problem(forged, 422, "signature-invalid")

    first = await sign_with(client, settings, hash_, 0)
    assert first.status_code == 200 and first.json()["status"] == "registered"
    assert await _opa_data(stack, hash_) is None  # not pushed before k signatures
    twice = await sign_with(client, settings, hash_, 0)  # the same key counts once
    assert twice.json()["status"] == "registered" and len(twice.json()["signed_by"]) == 1
    second = await sign_with(client, settings, hash_, 1)
    assert second.json()["status"] == "active", second.text
    assert (await _opa_data(stack, hash_)) == document["data"]

    minted = await mint_under(client, tenant, hash_, tokens=10_000)
    assert minted.status_code == 200, minted.text
    # The policy's rules (decided by OPA) cap the budget.
    over = _problem(await mint_under(client, tenant, hash_, tokens=60_000), 403, "policy-denied")
    assert "token-budget-over-cap" in str(over["detail"])
    await events(settings, codec, GATEWAY_AUDIT, "PolicyDenied", policy_hash=hash_,
                 rule="token-budget-over-cap")

    revoked = await client.post(f"/v1/policies/{hash_}/revoke", json={"reason": "test"},
                                headers=operator_headers(settings))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    _problem(await mint_under(client, tenant, hash_), 403, "policy-revoked")
    _problem(await sign_with(client, settings, hash_, 2), 403, "policy-revoked")
    assert await _opa_data(stack, hash_) is None
    for kind, want in (("PolicyRegistered", 1), ("PolicySigned", 2), ("PolicyActivated", 1),
                       ("PolicyRevoked", 1)):
        found = await events(settings, codec, POLICY, kind, want=want, policy_hash=hash_)
        assert len(found) == want, kind
    assert (await events(settings, codec, POLICY, "PolicyActivated", policy_hash=hash_)
            )[0]["payload"]["threshold_k"] == settings.constitution_k


async def test_unknown_policy_and_bad_documents_are_refused(
        client: httpx.AsyncClient, stack: RunningStack, tenant: Tenant, codec: EventCodec
) -> None:
    settings = stack.settings
    unknown = "sha256-" + hashlib.sha256(b"never registered").hexdigest()
    body = _problem(await mint_under(client, tenant, unknown), 403, "policy-unknown")
    assert unknown in str(body["detail"])
    await events(settings, codec, GATEWAY_AUDIT, "PolicyDenied", policy_hash=unknown,
                 rule="policy-unknown")
    # No session was minted for the refused requests.
    assert await events(settings, codec, "conversation.events", "SessionMinted", want=0,
                        timeout_s=10, policy_hash=unknown) == []

    bad = unique_policy("bad", tools=["calc"])
    bad["data"]["memory"]["mode"] = "everything"
    r = await register(client, settings, bad)
    problem = _problem(r, 422, "invalid-policy")
    assert any(e["pointer"] == "/data/memory/mode" for e in problem["errors"])  # type: ignore[union-attr]
    broken_rego = unique_policy("rego", tools=["calc"], rego="deny contains x if {")
    _problem(await register(client, settings, broken_rego), 422, "invalid-policy")
    api_key = await client.post("/v1/policies", json=unique_policy("k", tools=["calc"]),
                                headers={"Authorization": f"Bearer {tenant.api_key}"})
    _problem(api_key, 403, "forbidden")
    h = await activate(client, settings, unique_policy("ok", tools=["calc"]))
    assert (await mint_under(client, tenant, h)).status_code == 200
