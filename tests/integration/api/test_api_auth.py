"""Session tokens and API keys at the edge: forged, expired, alg:none, HS/RS confusion,
wrong key, unknown kid, rotation; tenants' sessions and turns stay their own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from edge_helpers import Server, Session, Tenant, mint, new_tenant, turn_body

from somagent.api.keys import keys_dir, rotate
from somagent.api.session_tokens import AUDIENCE, ISSUER
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def assert_401(client: httpx.AsyncClient, session: Session, token: str, slug: str) -> None:
    r = await client.post("/v1/turn", json=turn_body(session),
                          headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == f"https://somagent.dev/problems/{slug}"
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_missing_and_garbage_credentials(
    client: httpx.AsyncClient, session: Session
) -> None:
    r = await client.post("/v1/turn", json=turn_body(session))
    assert r.status_code == 401 and r.json()["type"].endswith("/unauthorized")
    await assert_401(client, session, "not.a.jwt", "invalid-token")
    await assert_401(client, session, "abc", "invalid-token")


async def test_forged_payload_is_rejected(client: httpx.AsyncClient, session: Session) -> None:
    header, _, signature = session.jwt.split(".")
    claims = claims_of(session.jwt)
    claims["budgets"]["tokens"] = 10**9
    forged = ".".join((header, _b64(json.dumps(claims).encode()), signature))
    await assert_401(client, session, forged, "invalid-token")


async def test_alg_none_and_hmac_with_public_key_are_rejected(
    client: httpx.AsyncClient, session: Session, edge: Server
) -> None:
    claims = claims_of(session.jwt)
    kid = jwt.get_unverified_header(session.jwt)["kid"]
    none_token = ".".join((
        _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode()),
        _b64(json.dumps(claims).encode()), ""))
    await assert_401(client, session, none_token, "invalid-token")
    # HS256 keyed with the published public key (the classic confusion attack).
    public_pem = (keys_dir(edge.ctx.settings.home_dir) / f"{kid}.pub.pem").read_bytes()
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    await assert_401(client, session, f"{header}.{body}.{_b64(sig)}", "invalid-token")
    rsa = generate_private_key(public_exponent=65537, key_size=2048)
    rs_token = jwt.encode(claims, rsa, algorithm="RS256", headers={"kid": kid})
    await assert_401(client, session, rs_token, "invalid-token")


async def test_wrong_key_and_unknown_kid_are_rejected(
    client: httpx.AsyncClient, session: Session
) -> None:
    claims = claims_of(session.jwt)
    kid = jwt.get_unverified_header(session.jwt)["kid"]
    stranger = Ed25519PrivateKey.generate()
    await assert_401(client, session,
                     jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": kid}),
                     "invalid-token")
    await assert_401(client, session,
                     jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": "nope"}),
                     "invalid-token")


async def test_expired_token_is_rejected(
    client: httpx.AsyncClient, session: Session, edge: Server
) -> None:
    kid, key = edge.ctx.keyring.active
    claims = claims_of(session.jwt)
    claims.update(iat=int(time.time()) - 3600, nbf=int(time.time()) - 3600,
                  exp=int(time.time()) - 60)
    expired = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})
    await assert_401(client, session, expired, "token-expired")
    wrong_aud = jwt.encode({**claims_of(session.jwt), "aud": "elsewhere"}, key,
                           algorithm="EdDSA", headers={"kid": kid})
    await assert_401(client, session, wrong_aud, "invalid-token")
    assert claims_of(session.jwt)["iss"] == ISSUER and claims_of(session.jwt)["aud"] == AUDIENCE


async def test_token_carries_the_contracted_claims(session: Session) -> None:
    header = jwt.get_unverified_header(session.jwt)
    assert header["alg"] == "EdDSA" and header["kid"]
    claims = claims_of(session.jwt)
    assert claims["tenant"] == session.tenant and claims["sid"] == session.session
    # The session's budgets, and the tenant's plan limits (a "pro" tenant's defaults).
    assert claims["budgets"] == {"tokens": 100_000, "tools_per_min": 60,
                                 "tokens_per_min": 5_000_000, "concurrent_turns": 64}
    assert claims["lane"] == "interactive"
    assert claims["persona_hash"].startswith("sha256-") and claims["capsules"] == []
    assert claims["exp"] - claims["iat"] == 900


async def test_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(
    client: httpx.AsyncClient, tenant: Tenant, edge: Server
) -> None:
    before = await mint(client, tenant)
    old_kid = jwt.get_unverified_header(before.jwt)["kid"]
    new_kid = rotate(keys_dir(edge.ctx.settings.home_dir))
    edge.ctx.keyring.reload()  # what a new process would read; old processes reload on a miss
    after = await mint(client, tenant)
    assert jwt.get_unverified_header(after.jwt)["kid"] == new_kid != old_kid
    for s in (before, after):
        r = await client.get("/v1/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
                             headers=s.auth)
        assert r.status_code == 200, r.text
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert {old_kid, new_kid} <= {k["kid"] for k in jwks["keys"]}
    assert not (keys_dir(edge.ctx.settings.home_dir) / f"{old_kid}.key.pem").exists()


async def test_api_key_checks_on_mint(client: httpx.AsyncClient, tenant: Tenant,
                                      stack: RunningStack) -> None:
    body = {"tenant": tenant.tenant, "persona_hash": "sha256-" + "a" * 64,
            "policy_hash": "sha256-" + "b" * 64, "budgets": {"tokens": 1, "tools_per_min": 1}}
    r = await client.post("/v1/session/mint", json=body,
                          headers={"Authorization": "Bearer sk_not-a-key"})
    assert r.status_code == 401 and r.json()["type"].endswith("/invalid-api-key")
    other = await new_tenant(stack.settings, "other")
    r = await client.post("/v1/session/mint", json=body,
                          headers={"Authorization": f"Bearer {other.api_key}"})
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
    # A session token is not an API key.
    s = await mint(client, tenant)
    r = await client.post("/v1/session/mint", json=body, headers=s.auth)
    assert r.status_code == 401


async def test_cross_tenant_sessions_and_turns(
    client: httpx.AsyncClient, tenant: Tenant, stack: RunningStack
) -> None:
    mine = await mint(client, tenant)
    theirs = await mint(client, await new_tenant(stack.settings, "rival"))
    # Their session with my token: 403; an unknown session: 404; my other session: 403.
    r = await client.post("/v1/turn", json=turn_body(theirs), headers=mine.auth)
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
    ghost = Session(mine.tenant, str(uuid.uuid4()), mine.jwt)
    r = await client.post("/v1/turn", json=turn_body(ghost), headers=mine.auth)
    assert r.status_code == 404 and r.json()["type"].endswith("/session-not-found")
    second = await mint(client, tenant)
    r = await client.post("/v1/turn", json=turn_body(second), headers=mine.auth)
    assert r.status_code == 403 and r.json()["type"].endswith("/session-mismatch")
    # Their turn is invisible to me (404, same as a turn that does not exist).
    async with client.stream("POST", "/v1/turn", json=turn_body(theirs),
                             headers=theirs.auth) as started:
        turn = started.headers["x-turn-id"]
    for method, path in (("GET", f"/v1/turns/{turn}/events"), ("POST", f"/v1/turns/{turn}/cancel")):
        r = await client.request(method, path, headers=mine.auth)
        assert r.status_code == 404 and r.json()["type"].endswith("/turn-not-found"), path
