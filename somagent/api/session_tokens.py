"""Session tokens: EdDSA (Ed25519) JWTs with a ``kid`` header, verified with the alg pinned.

Claims (all required on verification):

======================= ==========================================================
``iss`` / ``aud``       ``somagent`` / ``somagent-edge``
``sub`` / ``sid``       the session id
``tenant``              the tenant id
``persona_hash``        ``sha256-<hex>`` of the persona
``policy_hash``         ``sha256-<hex>`` of the policy
``budgets``             ``{"tokens": int, "tools_per_min": int}``, and the tenant's
                        ``tokens_per_min`` and ``concurrent_turns`` at mint (optional:
                        a token without them is not throttled per tenant)
``region``              the tenant's residency (``eu``/``us``); an edge of another
                        region answers 421 (optional)
``lane``                the turn's QoS lane, ``interactive`` or ``batch`` (optional,
                        default ``interactive``)
``capsules``            capsule ids the session may read
``allow``               capsule ids whose embeddings the session may read (optional)
``agent``               ``{"id", "version", "tools"}`` of the installed marketplace agent
                        the session was minted for (optional)
``iat`` / ``nbf`` / ``exp`` / ``jti``  issue, not-before, expiry (epoch s), token id
======================= ==========================================================

Verification accepts only ``alg: EdDSA``: ``none``, HMAC and RSA/ECDSA tokens are
rejected before any key is used, so a public key can never be abused as an HMAC
secret. An unknown ``kid`` is rejected after one re-read of the key directory.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jwt

from somagent.api.keys import KeyRing
from somagent.api.problems import Problem

ISSUER = "somagent"
AUDIENCE = "somagent-edge"
ALGORITHM = "EdDSA"
LEEWAY_S = 5
_REQUIRED = ("iss", "aud", "sub", "exp", "iat", "nbf", "jti")


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a verified token says."""

    tenant: str
    session: str
    persona_hash: str
    policy_hash: str
    token_budget: int
    tools_per_min: int
    capsules: tuple[str, ...] = ()
    expires_at: int = 0
    token_id: str = ""
    kid: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    agent: str = ""
    agent_version: str = ""
    tools: tuple[str, ...] = ()
    lane: str = "interactive"
    tokens_per_min: int | None = None
    concurrent_turns: int | None = None
    region: str | None = None


def mint(
    keyring: KeyRing,
    *,
    tenant: str,
    session: str,
    persona_hash: str,
    policy_hash: str,
    token_budget: int,
    tools_per_min: int,
    capsules: tuple[str, ...] | list[str] = (),
    ttl_s: int = 900,
    now_s: int | None = None,
    allow: tuple[str, ...] | list[str] = (),
    agent: dict[str, Any] | None = None,
    lane: str | None = None,
    tenant_limits: dict[str, int] | None = None,
    region: str | None = None,
) -> str:
    """A signed token for ``session`` valid for ``ttl_s`` seconds from ``now_s``.

    ``tenant_limits`` (``tokens_per_min``, ``concurrent_turns``) join ``budgets``.
    """
    issued = int(time.time()) if now_s is None else now_s
    kid, key = keyring.active
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": session,
        "sid": session,
        "tenant": tenant,
        "persona_hash": persona_hash,
        "policy_hash": policy_hash,
        "budgets": {"tokens": token_budget, "tools_per_min": tools_per_min,
                    **(tenant_limits or {})},
        "capsules": list(capsules),
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_s,
        "jti": str(uuid.uuid4()),
    }
    if allow:
        claims["allow"] = list(allow)
    if agent:
        claims["agent"] = agent
    if lane:
        claims["lane"] = lane
    if region:
        claims["region"] = region
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Problem("invalid-token", f"token is not a JWT: {exc}") from exc


def verify(keyring: KeyRing, token: str) -> SessionClaims:
    """The claims of a valid token.

    Raises:
        Problem: ``invalid-token`` (bad structure, alg other than EdDSA, unknown kid,
            bad signature, wrong issuer/audience, missing or malformed claims) or
            ``token-expired``.
    """
    header = _header(token)
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise Problem("invalid-token", f"token alg {alg!r} is not accepted (only {ALGORITHM})")
    kid = header.get("kid")
    key = keyring.public_key(kid) if isinstance(kid, str) else None
    if key is None:
        raise Problem("invalid-token", f"token kid {kid!r} is not a known signing key")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": list(_REQUIRED)},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Problem("token-expired", "token has expired; mint a new session") from exc
    except jwt.PyJWTError as exc:
        raise Problem("invalid-token", f"token rejected: {exc}") from exc
    return _claims(claims, kid)  # type: ignore[arg-type]


def _claims(claims: dict[str, Any], kid: str) -> SessionClaims:
    try:
        budgets = claims["budgets"]
        agent = claims.get("agent") or {}
        session = str(uuid.UUID(str(claims["sid"])))
        if session != str(uuid.UUID(str(claims["sub"]))):
            raise ValueError("sub and sid differ")
        return SessionClaims(
            tenant=str(uuid.UUID(str(claims["tenant"]))),
            session=session,
            persona_hash=str(claims["persona_hash"]),
            policy_hash=str(claims["policy_hash"]),
            token_budget=int(budgets["tokens"]),
            tools_per_min=int(budgets["tools_per_min"]),
            capsules=tuple(str(c) for c in claims.get("capsules") or ()),
            expires_at=int(claims["exp"]),
            token_id=str(claims["jti"]),
            kid=kid,
            allow=tuple(str(c) for c in claims.get("allow") or ()),
            agent=str(agent.get("id") or ""),
            agent_version=str(agent.get("version") or ""),
            tools=tuple(str(x) for x in agent.get("tools") or ()),
            lane=_lane(claims.get("lane", "interactive")),
            tokens_per_min=_optional_int(budgets.get("tokens_per_min")),
            concurrent_turns=_optional_int(budgets.get("concurrent_turns")),
            region=str(claims["region"]) if claims.get("region") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Problem("invalid-token", f"token claims are malformed: {exc}") from exc


def _lane(value: Any) -> str:
    if value not in ("interactive", "batch"):
        raise ValueError(f"lane {value!r} is not interactive or batch")
    return str(value)


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a count >= 0")
    return value


class VerifiedTokens:
    """Claims of tokens this process verified before, until each expires.

    Verifying an Ed25519 JWT costs ~0.4-0.9 ms of CPU here, and a session presents
    the same token on every turn. A hit returns the claims verified earlier (the
    signature cannot have changed: the key is the token's own bytes) as long as
    ``expires_at`` is in the future; rejections are never cached. Bounded
    (least recently used first out); thread-safe by the GIL (one dict operation
    per step).
    """

    def __init__(self, keyring: KeyRing, *, max_entries: int = 65_536) -> None:
        self.keyring = keyring
        self.max_entries = max_entries
        self._cache: OrderedDict[str, SessionClaims] = OrderedDict()

    def verify(self, token: str, now_s: float | None = None) -> SessionClaims:
        """:func:`verify`, with the cache (same errors, same claims)."""
        now = time.time() if now_s is None else now_s
        claims = self._cache.get(token)
        if claims is not None and claims.expires_at > now:
            self._cache.move_to_end(token)
            return claims
        claims = verify(self.keyring, token)
        self._cache[token] = claims
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return claims

