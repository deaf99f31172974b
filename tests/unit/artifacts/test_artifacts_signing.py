"""DSSE envelopes: sign, verify, and each way verification fails."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from somagent.api.keys import thumbprint as jwt_kid
from somagent.artifacts import signing
from somagent.artifacts.exceptions import InvalidKey, SignatureRejected
from somagent.artifacts.publisher import public_jwk

TYPE = "application/vnd.somagent.capsule+json"


def _keys(*keys: Ed25519PrivateKey) -> dict[str, object]:
    return {signing.thumbprint(k.public_key()): k.public_key() for k in keys}


def test_sign_and_verify_round_trip_with_rfc7638_key_ids() -> None:
    key = Ed25519PrivateKey.generate()
    envelope = signing.sign(b'{"a":1}', TYPE, key)
    assert envelope["signatures"][0]["keyid"] == jwt_kid(key.public_key())
    verified = signing.verify(signing.parse_envelope(envelope), _keys(key))  # type: ignore[arg-type]
    assert (verified.payload, verified.payload_type) == (b'{"a":1}', TYPE)
    assert verified.key_id == signing.thumbprint(key.public_key())
    # parse_envelope must not consume the caller's dict.
    assert envelope["signatures"][0]["sig"]


def test_a_changed_payload_or_type_does_not_verify() -> None:
    key = Ed25519PrivateKey.generate()
    envelope = signing.sign(b'{"a":1}', TYPE, key)
    for forged in ({**envelope, "payload": base64.b64encode(b'{"a":2}').decode()},
                   {**envelope, "payloadType": "application/vnd.somagent.agent+json"}):
        with pytest.raises(SignatureRejected) as caught:
            signing.verify(signing.parse_envelope(forged), _keys(key))  # type: ignore[arg-type]
        assert caught.value.reason == "bad-signature"


def test_unknown_keys_and_malformed_envelopes() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    envelope = signing.sign(b"{}", TYPE, key)
    with pytest.raises(SignatureRejected) as caught:
        signing.verify(signing.parse_envelope(envelope), _keys(other))  # type: ignore[arg-type]
    assert caught.value.reason == "unknown-key"
    for bad in ([], {"payload": "e30="}, {**envelope, "signatures": []},
                {**envelope, "payload": "%%%"}):
        with pytest.raises(SignatureRejected) as caught:
            signing.parse_envelope(bad)
        assert caught.value.reason == "malformed-envelope"


def test_public_keys_from_jwk_and_pem_only_ed25519() -> None:
    key = Ed25519PrivateKey.generate()
    pem = signing.pem_of(key.public_key())
    for form in (public_jwk(key), pem):
        loaded = signing.load_public_key(form)
        assert signing.thumbprint(loaded) == signing.thumbprint(key.public_key())
    ec_pem = signing.pem_of  # noqa: F841 - a non-Ed25519 key below
    from cryptography.hazmat.primitives import serialization

    ec = generate_private_key(SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    for bad in (ec, "not a key", {"kty": "OKP", "crv": "Ed25519", "x": "short"},
                {**public_jwk(key), "d": "private!"}, {"kty": "RSA"}):
        with pytest.raises(InvalidKey):
            signing.load_public_key(bad)
