"""Memory capsules against the real stack: upload → recall within the capsule → revoke →
recall no longer returns it; metering and audit of reads; embeddings only with ``allow``;
and every refusal (forged signature, unknown key, wrong tenant, oversize, malformed)
answered with problem+json and nothing stored."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from artifact_helpers import Signer, signer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from edge_helpers import EDGE, Session, mint, read_topic_async, sha, start_server

from somagent.artifacts import signing
from somagent.artifacts.blobs import s3_client, s3_credentials
from somagent.artifacts.publisher import signed
from somagent.events.catalog import BILLING_USAGE, GATEWAY_AUDIT, MEMORY
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.stack import RunningStack
from somagent.wait import until_async

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def capsule(capsule_id: str, version: str = "1.0.0", marker: str = "") -> dict[str, Any]:
    return {
        "kind": "capsule", "id": capsule_id, "version": version, "name": "Finance basics",
        "embedding_model": "example-hrr-8",
        "memory_blocks": [
            {"id": "b1", "text": f"The Q3 travel budget {marker} was capped at 40000 euros.",
             "embedding": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]},
            {"id": "b2", "text": f"Invoices {marker} above 5000 euros need two approvals."},
        ],
    }


async def _stored(settings: Any, capsule_id: str) -> tuple[int, int]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        versions = await conn.fetchval(
            "SELECT count(*) FROM artifact_versions WHERE artifact_id = $1", capsule_id)
        heads = await conn.fetchval("SELECT count(*) FROM artifacts WHERE artifact_id = $1",
                                    capsule_id)
    finally:
        await conn.close()
    return int(versions), int(heads)


def _blob_count(settings: Any) -> int:
    client = s3_client(settings)
    listed = client.list_objects_v2(Bucket=s3_credentials(settings)[2])
    return int(listed.get("KeyCount", 0))


async def _recall(client: httpx.AsyncClient, session: Session, capsule_id: str,
                  query: str = "travel budget cap") -> list[dict[str, Any]]:
    r = await client.post("/v1/memory/recall", headers=session.auth,
                          json={"query": query, "top_k": 5, "capsule_ids": [capsule_id]})
    assert r.status_code == 200, r.text
    evidence: list[dict[str, Any]] = r.json()["evidence"]
    return evidence


async def test_upload_recall_meter_revoke(stack: RunningStack, client: httpx.AsyncClient
                                          ) -> None:
    owner = await signer(stack, client, "capsule-owner")
    capsule_id = f"finance-{uuid.uuid4().hex[:8]}"
    doc = capsule(capsule_id)
    r = await client.post("/v1/memory/capsule/upload", headers=owner.admin,
                          json=signed(doc, owner.key, fmt="yaml"))
    assert r.status_code == 201, r.text
    up = r.json()
    assert (up["capsule_id"], up["version"], up["key_id"]) == (capsule_id, "1.0.0", owner.key_id)
    assert up["blocks"] == {"remembered": 2}
    # The same document as JSON is the same content (RFC 8785 digest): idempotent.
    again = await client.post("/v1/memory/capsule/upload", headers=owner.admin,
                              json=signed(doc, owner.key, fmt="json"))
    assert again.status_code == 200 and again.json()["sha256"] == up["sha256"], again.text
    # Another version with other content under the same number is refused.
    clash = await client.post("/v1/memory/capsule/upload", headers=owner.admin,
                              json=signed(capsule(capsule_id, marker="x"), owner.key))
    assert clash.status_code == 409 and clash.json()["type"].endswith("/version-exists")

    session = await mint(client, owner.tenant, capsules=[capsule_id])
    evidence = await _recall(client, session, capsule_id)
    assert evidence and all(e["capsule_id"] == capsule_id for e in evidence)
    assert any("travel budget" in e["text"] for e in evidence)
    # A session that does not name the capsule never sees its blocks.
    plain = await mint(client, owner.tenant)
    r = await client.post("/v1/memory/recall", headers=plain.auth,
                          json={"query": "travel budget cap", "top_k": 5})
    assert r.status_code == 200 and not [e for e in r.json()["evidence"] if e["capsule_id"]]
    # Metered and audited per capsule.
    codec = client_codec(stack)
    usage = await read_topic_async(stack.settings, codec, BILLING_USAGE, lambda e: (
        e["type"] == "UsageRecorded" and e["payload"]["agent"] == f"capsule:{capsule_id}"))
    audit = await read_topic_async(stack.settings, codec, GATEWAY_AUDIT, lambda e: (
        e["type"] == "CapsuleRecalled" and e["payload"]["capsule_id"] == capsule_id))
    assert usage and usage[0]["payload"]["tool_call_price_picocents"] > 0
    assert audit[0]["payload"]["action"] == "memory.capsule.recall"
    assert str(audit[0]["payload"]["usage_id"]) == str(usage[0]["payload"]["usage_id"])

    # Metadata for the owner; embeddings only with a token whose allow claim names it.
    meta = await client.get(f"/v1/memory/capsule/{capsule_id}", headers=owner.admin)
    assert meta.status_code == 200 and [v["version"] for v in meta.json()["versions"]] == ["1.0.0"]
    denied = await client.get(f"/v1/memory/capsule/{capsule_id}?include=embeddings",
                              headers=session.auth)
    assert denied.status_code == 403 and denied.headers["content-type"] == PROBLEM
    allowed = await mint_allow(client, owner, capsule_id)
    emb = await client.get(f"/v1/memory/capsule/{capsule_id}?include=embeddings",
                           headers=allowed.auth)
    assert emb.status_code == 200, emb.text
    assert emb.json()["embeddings"]["blocks"] == [{"id": "b1", "embedding": doc[
        "memory_blocks"][0]["embedding"]}]

    # Revoke: sessions only (not admin) are refused; the owner's API key revokes.
    assert (await client.delete(f"/v1/memory/capsule/{capsule_id}",
                                headers=session.auth)).status_code == 403
    started = time.monotonic()
    gone = await client.delete(f"/v1/memory/capsule/{capsule_id}", headers=owner.admin)
    assert gone.status_code == 200 and gone.json()["status"] == "revoked", gone.text

    async def recalled_nothing() -> bool:
        return not await _recall(client, session, capsule_id)

    await until_async(recalled_nothing, timeout_s=60, what="revoked capsule no longer recalled")
    delay_s = time.monotonic() - started
    print(f"revoke-to-no-recall delay: {delay_s * 1000:.0f} ms")
    refused = await client.post("/v1/session/mint", headers=owner.admin, json={
        "tenant": owner.tenant.tenant, "persona_hash": sha("p"), "policy_hash": DEFAULT_POLICY_HASH,
        "budgets": {"tokens": 1000, "tools_per_min": 1}, "capsule_ids": [capsule_id]})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/capsule-revoked")
    revoked = await read_topic_async(stack.settings, codec, MEMORY, lambda e: (
        e["type"] == "CapsuleRevoked" and e["payload"]["capsule_id"] == capsule_id))
    assert str(revoked[0]["tenant"]) == owner.tenant.tenant
    reupload = await client.post("/v1/memory/capsule/upload", headers=owner.admin,
                                 json=signed(capsule(capsule_id, "2.0.0"), owner.key))
    assert reupload.status_code == 409 and reupload.json()["type"].endswith("/artifact-revoked")


def client_codec(stack: RunningStack) -> Any:
    from somagent.kafka.schema_log import kafka_codec

    return kafka_codec(stack.settings)


async def mint_allow(client: httpx.AsyncClient, owner: Signer, capsule_id: str) -> Session:
    r = await client.post("/v1/session/mint", headers=owner.admin, json={
        "tenant": owner.tenant.tenant, "persona_hash": sha("p"), "policy_hash": DEFAULT_POLICY_HASH,
        "budgets": {"tokens": 1000, "tools_per_min": 1}, "capsule_ids": [capsule_id],
        "allow": [capsule_id]})
    assert r.status_code == 200, r.text
    return Session(owner.tenant.tenant, r.json()["session_id"], r.json()["jwt"])


def _forged(envelope: dict[str, Any]) -> dict[str, Any]:
    payload = base64.b64decode(envelope["payload"]).replace(b"40000", b"90000")
    return {**envelope, "payload": base64.b64encode(payload).decode()}


async def test_refusals_store_nothing(stack: RunningStack, client: httpx.AsyncClient) -> None:
    owner = await signer(stack, client, "refusals")
    other = await signer(stack, client, "other-tenant")
    capsule_id = f"refused-{uuid.uuid4().hex[:8]}"
    doc = capsule(capsule_id)
    stranger = Ed25519PrivateKey.generate()
    too_big = capsule(capsule_id)
    too_big["memory_blocks"] = [{"id": f"b{i}", "text": "x" * 8000} for i in range(200)]
    not_a_capsule = {**doc, "memory_blocks": []}
    cases: list[tuple[str, Any, int, str, str | None]] = [
        ("forged signature", _forged(signed(doc, owner.key)), 422, "signature-invalid",
         "bad-signature"),
        ("unknown key", signed(doc, stranger), 422, "signature-invalid", "unknown-key"),
        ("wrong tenant's key", signed(doc, other.key), 422, "signature-invalid", "unknown-key"),
        ("oversize", signed(too_big, owner.key), 413, "body-too-large", None),
        ("not a DSSE envelope", {"capsule": doc}, 422, "signature-invalid",
         "malformed-envelope"),
        ("not a capsule", signed(not_a_capsule, owner.key), 422, "invalid-artifact", None),
        ("wrong payload type", signed({**doc, "kind": "agent"}, owner.key), 422,
         "signature-invalid", "payload-type"),
    ]
    blobs_before = _blob_count(stack.settings)
    for name, body, status, slug, reason in cases:
        r = await client.post("/v1/memory/capsule/upload", headers=owner.admin, json=body)
        assert r.status_code == status, (name, r.text)
        assert r.headers["content-type"] == PROBLEM, name
        problem = r.json()
        assert problem["type"].endswith("/" + slug), (name, problem)
        if reason:
            assert problem["reason"] == reason, (name, problem)
    malformed = await client.post("/v1/memory/capsule/upload", content=b"{not json",
                                  headers={**owner.admin, "content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.headers["content-type"] == PROBLEM
    bad = signing.sign(b"kind: [capsule\n", "application/vnd.somagent.capsule+yaml", owner.key)
    r = await client.post("/v1/memory/capsule/upload", headers=owner.admin, json=bad)
    assert r.status_code == 422 and r.json()["type"].endswith("/invalid-artifact"), r.text
    # A session token is not the admin role; another tenant cannot take the id.
    session = await mint(client, owner.tenant)
    r = await client.post("/v1/memory/capsule/upload", headers=session.auth,
                          json=signed(doc, owner.key))
    assert r.status_code == 403
    assert await _stored(stack.settings, capsule_id) == (0, 0)
    assert _blob_count(stack.settings) == blobs_before
    ok = await client.post("/v1/memory/capsule/upload", headers=owner.admin,
                           json=signed(doc, owner.key))
    assert ok.status_code == 201, ok.text
    taken = await client.post("/v1/memory/capsule/upload", headers=other.admin,
                              json=signed(capsule(capsule_id, "1.1.0"), other.key))
    assert taken.status_code == 403 and taken.json()["type"].endswith("/forbidden")
    assert await _stored(stack.settings, capsule_id) == (1, 1)


async def test_blobs_in_postgres_when_selected(stack: RunningStack) -> None:
    settings = stack.settings.model_copy(update={"artifact_store": "postgres"})
    server = start_server(settings, EDGE)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            owner = await signer(stack, client, "pg-blobs")
            capsule_id = f"pgblob-{uuid.uuid4().hex[:8]}"
            r = await client.post("/v1/memory/capsule/upload", headers=owner.admin,
                                  json=signed(capsule(capsule_id), owner.key))
            assert r.status_code == 201, r.text
            key = r.json()["blob_key"]
            allowed = await mint_allow(client, owner, capsule_id)
            emb = await client.get(f"/v1/memory/capsule/{capsule_id}?include=embeddings",
                                   headers=allowed.auth)
            assert emb.status_code == 200 and emb.json()["embeddings"]["blocks"], emb.text
    finally:
        server.stop()
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        size = await conn.fetchval("SELECT size_bytes FROM artifact_blobs WHERE blob_key = $1",
                                   key)
    finally:
        await conn.close()
    assert size and size > 0
