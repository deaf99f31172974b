"""DSSE envelopes signed with Ed25519 keys (securesystemslib), key ids by RFC 7638 (pure).

An envelope is DSSE's JSON form::

    {"payload": "<base64 of the document bytes>",
     "payloadType": "application/vnd.somagent.capsule+yaml",
     "signatures": [{"keyid": "<RFC 7638 thumbprint>", "sig": "<base64>"}]}

The signature covers DSSE's pre-authentication encoding of (payloadType, payload
bytes); :func:`verify` checks it with ``securesystemslib.dsse.Envelope.verify``
against the tenant's registered keys (threshold 1). A key id is the RFC 7638
thumbprint of the public key as an OKP JWK, the same rule as the edge's JWT
``kid`` (:func:`somagent.api.keys.thumbprint` computes the same value).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import FormatError, VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]

from somagent.artifacts.exceptions import InvalidKey, SignatureRejected

SCHEME = "ed25519"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of ``key`` as an OKP JWK."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def pem_of(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(value: str | Mapping[str, Any]) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM string or an OKP JWK object.

    Raises:
        InvalidKey: anything else (RSA/EC keys, private keys, malformed input).
    """
    if isinstance(value, Mapping):
        if value.get("kty") != "OKP" or value.get("crv") != "Ed25519" or "d" in value:
            raise InvalidKey("a JWK must be a public OKP key with crv Ed25519 (no 'd')")
        try:
            x = str(value["x"])
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
            return Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, ValueError, binascii.Error) as exc:
            raise InvalidKey(f"JWK member 'x' is not a 32-byte Ed25519 key: {exc}") from exc
    try:
        key = serialization.load_pem_public_key(value.encode())
    except (ValueError, TypeError) as exc:
        raise InvalidKey(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidKey(f"only Ed25519 keys are accepted, got {type(key).__name__}")
    return key


def sslib_key(key: Ed25519PublicKey) -> SSlibKey:
    """The securesystemslib key object, with our RFC 7638 key id."""
    return SSlibKey.from_crypto(key, keyid=thumbprint(key), scheme=SCHEME)


def sign(payload: bytes, payload_type: str, private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """A DSSE envelope of ``payload`` signed by ``private_key`` (publishers, tests, demo)."""
    public = sslib_key(private_key.public_key())
    envelope = Envelope(payload, payload_type, {})
    envelope.sign(CryptoSigner(private_key, public))
    return dict(envelope.to_dict())


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verified envelope carries."""

    key_id: str
    payload: bytes
    payload_type: str


def parse_envelope(document: Any) -> Envelope:
    """The DSSE envelope in ``document`` (``SignatureRejected('malformed-envelope')`` if not)."""
    if not isinstance(document, Mapping):
        raise SignatureRejected("malformed-envelope", "the signature envelope must be an object")
    try:
        # from_dict consumes the dict it is given: hand it a copy.
        envelope = Envelope.from_dict(copy.deepcopy(dict(document)))
    except (KeyError, TypeError, ValueError, binascii.Error, FormatError) as exc:
        raise SignatureRejected(
            "malformed-envelope", f"not a DSSE envelope (payload, payloadType, signatures): {exc}"
        ) from exc
    if not envelope.signatures:
        raise SignatureRejected("malformed-envelope", "the envelope carries no signature")
    return envelope


def verify(envelope: Envelope, keys: Mapping[str, Ed25519PublicKey]) -> Verified:
    """Check ``envelope`` against ``keys`` (key id → key): one valid signature is enough.

    Raises:
        SignatureRejected: ``unknown-key`` (no signature names a key in ``keys``) or
            ``bad-signature`` (a named key's signature does not verify).
    """
    named = [k for k in envelope.signatures if k in keys]
    if not named:
        raise SignatureRejected(
            "unknown-key",
            f"signature key ids {sorted(envelope.signatures)} are not registered keys of "
            "this tenant (POST /v1/keys)",
        )
    try:
        accepted = envelope.verify([sslib_key(keys[k]) for k in named], 1)
    except VerificationError as exc:
        raise SignatureRejected(
            "bad-signature", f"the signature by key {named[0]} does not verify: {exc}"
        ) from exc
    return Verified(sorted(accepted)[0], envelope.payload, envelope.payload_type)
