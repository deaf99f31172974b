"""Ed25519 keys on disk (RFC 7638 thumbprints, rotation) and token verification rules."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from somagent.api.keys import KeyRing, ensure_keys, rotate, thumbprint
from somagent.api.problems import Problem
from somagent.api.session_tokens import mint, verify


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(ring: KeyRing, **over: object) -> str:
    args: dict[str, object] = dict(tenant=str(uuid.uuid4()), session=str(uuid.uuid4()),
                                   persona_hash="sha256-p", policy_hash="sha256-q",
                                   token_budget=10, tools_per_min=2, capsules=["c"])
    args.update(over)
    return mint(ring, **args)  # type: ignore[arg-type]


def test_thumbprint_matches_rfc_8037_example() -> None:
    # RFC 8037 A.2/A.3: the Ed25519 public key and its RFC 7638 thumbprint.
    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    key = Ed25519PublicKey.from_public_bytes(x)
    assert thumbprint(key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_first_use_creates_one_key_and_files_are_private(tmp_path: Path) -> None:
    first = ensure_keys(tmp_path)
    again = ensure_keys(tmp_path)
    assert first.active_kid == again.active_kid
    private = tmp_path / f"{first.active_kid}.key.pem"
    assert private.stat().st_mode & 0o077 == 0


def test_round_trip_carries_every_claim(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    tenant, session = str(uuid.uuid4()), str(uuid.uuid4())
    claims = verify(ring, _token(ring, tenant=tenant, session=session))
    assert (claims.tenant, claims.session) == (tenant, session)
    assert (claims.token_budget, claims.tools_per_min, claims.capsules) == (10, 2, ("c",))
    assert claims.kid == ring.active[0]


def test_rotation_keeps_old_tokens_verifiable(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    old = _token(ring)
    new_kid = rotate(tmp_path)
    other_process = KeyRing(tmp_path)
    assert other_process.active[0] == new_kid
    assert verify(other_process, old).kid != new_kid
    fresh = _token(other_process)
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid
    time.sleep(1.01)  # the first ring re-reads keys at most once a second
    assert verify(ring, fresh).kid == new_kid


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "ES256"])
def test_only_eddsa_is_accepted(tmp_path: Path, alg: str) -> None:
    ring = KeyRing(tmp_path)
    good = _token(ring)
    _, body, _ = good.split(".")
    kid = jwt.get_unverified_header(good)["kid"]
    forged_header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    with pytest.raises(Problem) as caught:
        verify(ring, f"{forged_header}.{body}.")
    assert caught.value.slug == "invalid-token" and alg in caught.value.detail


def test_expired_unknown_kid_and_tampering(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    with pytest.raises(Problem) as caught:
        verify(ring, _token(ring, ttl_s=10, now_s=int(time.time()) - 100))
    assert caught.value.slug == "token-expired"
    stranger = jwt.encode({"sub": "x"}, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                          headers={"kid": "unknown"})
    with pytest.raises(Problem):
        verify(ring, stranger)
    good = _token(ring)
    header, body, sig = good.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(body + "=="))
    tampered["tenant"] = str(uuid.uuid4())
    with pytest.raises(Problem):
        verify(ring, f"{header}.{_b64(json.dumps(tampered).encode())}.{sig}")


def test_missing_claims_are_rejected(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    kid, key = ring.active
    now = int(time.time())
    base = {"iss": "somagent", "aud": "somagent-edge", "sub": str(uuid.uuid4()), "iat": now,
            "nbf": now, "exp": now + 60, "jti": "j"}
    for claims in (base, {**base, "sid": base["sub"], "tenant": "not-a-uuid",
                          "budgets": {"tokens": 1, "tools_per_min": 1},
                          "persona_hash": "p", "policy_hash": "q"}):
        with pytest.raises(Problem) as caught:
            verify(ring, jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid}))
        assert caught.value.slug == "invalid-token"


def test_verified_tokens_cache_hits_and_never_caches_a_rejection(tmp_path: Path) -> None:
    from somagent.api.session_tokens import VerifiedTokens

    ring = KeyRing(tmp_path)
    cache = VerifiedTokens(ring, max_entries=2)
    token = _token(ring, ttl_s=60)
    first = cache.verify(token)
    assert cache.verify(token) is first  # the second presentation is a hit
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(Problem):
            cache.verify(forged)
    # past its expiry the cache does not answer: the token is verified again
    assert cache.verify(token, now_s=first.expires_at + 1) is not first
    old = _token(ring, ttl_s=60, now_s=int(time.time()) - 3600)
    for _ in range(2):  # an expired token is refused every time, never cached
        with pytest.raises(Problem):
            cache.verify(old)
    others = [_token(ring) for _ in range(3)]
    for other in others:
        cache.verify(other)
    assert len(cache._cache) == 2  # bounded: the least recently used went first


def test_lane_and_tenant_limits_round_trip_and_are_optional(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    claims = verify(ring, _token(ring, lane="batch",
                                 tenant_limits={"tokens_per_min": 500, "concurrent_turns": 3}))
    assert (claims.lane, claims.tokens_per_min, claims.concurrent_turns) == ("batch", 500, 3)
    plain = verify(ring, _token(ring))  # a token minted before plans: not throttled per tenant
    assert (plain.lane, plain.tokens_per_min, plain.concurrent_turns) == ("interactive", None, None)
    with pytest.raises(Problem, match="lane"):
        verify(ring, _token(ring, lane="express"))
