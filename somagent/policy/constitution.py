"""The constitution keys: n independent Ed25519 keys, k of which activate a policy.

This is **k-of-n multi-signature**, not threshold cryptography: each key holder
signs the activation message on their own and the platform counts distinct valid
signatures; no key is split and no single combined signature exists.

* The public keys are the ``*.pub`` files in ``settings.constitution_keys_path``
  (each the raw 32-byte Ed25519 public key, base64url); a key's id is its RFC 7638
  thumbprint (:func:`somagent.artifacts.signing.thumbprint`). ``k`` is
  ``SOMAGENT_CONSTITUTION_K``.
* The signed message is ``somagent-policy-activation:v1:<policy_hash>`` (domain
  separated, so no other signature of these keys can activate a policy).
* The local stack generates three keys (:func:`ensure_local_keys`): the private
  halves under ``home/keys/constitution-private`` (mode 0600) so the demo, the tests
  and the built-in default policy can be signed; a real installation configures only
  the public keys and its key holders sign elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from somagent.artifacts.signing import thumbprint
from somagent.config import Settings
from somagent.policy.exceptions import SignatureInvalid

PREFIX: Final = b"somagent-policy-activation:v1:"
LOCAL_KEYS: Final = 3


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def message(policy_hash: str) -> bytes:
    """What a constitution key signs to activate ``policy_hash``."""
    return PREFIX + policy_hash.encode()


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Constitution:
    """The configured public keys (by key id) and k."""

    keys: dict[str, Ed25519PublicKey]
    k: int

    @property
    def n(self) -> int:
        return len(self.keys)

    def verify(self, policy_hash: str, key_id: str, signature_b64url: str) -> None:
        """Return if ``signature`` is ``key_id``'s over the activation message, else
        :class:`SignatureInvalid` naming the key."""
        key = self.keys.get(key_id)
        if key is None:
            raise SignatureInvalid(f"key {key_id!r} is not a constitution key "
                                   f"(known: {sorted(self.keys)})")
        try:
            key.verify(_unb64url(signature_b64url), message(policy_hash))
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise SignatureInvalid(f"signature of key {key_id} does not verify over "
                                   f"the activation message of {policy_hash}") from exc


def load(settings: Settings) -> Constitution:
    """The constitution of ``settings`` (no keys: nothing can be activated)."""
    keys: dict[str, Ed25519PublicKey] = {}
    directory = settings.constitution_keys_path
    if directory.is_dir():
        for path in sorted(directory.glob("*.pub")):
            key = Ed25519PublicKey.from_public_bytes(_unb64url(path.read_text().strip()))
            keys[thumbprint(key)] = key
    return Constitution(keys, settings.constitution_k)


def sign(key: Ed25519PrivateKey, policy_hash: str) -> tuple[str, str]:
    """``(key_id, signature)`` of ``key`` over the activation message (what a key holder
    sends to ``POST /v1/policies/{hash}/signatures``)."""
    return thumbprint(key.public_key()), _b64url(key.sign(message(policy_hash)))


def private_dir(settings: Settings) -> Path:
    return settings.home_dir / "keys" / "constitution-private"


def local_private_keys(settings: Settings) -> list[Ed25519PrivateKey]:
    """The private halves the local stack generated (empty elsewhere)."""
    directory = private_dir(settings)
    if not directory.is_dir():
        return []
    return [Ed25519PrivateKey.from_private_bytes(_unb64url(p.read_text().strip()))
            for p in sorted(directory.glob("*.key"))]


def ensure_local_keys(settings: Settings, count: int = LOCAL_KEYS) -> list[Ed25519PrivateKey]:
    """Create ``count`` constitution keys under home once (public and private halves);
    return the private keys. Keys already there are kept."""
    private, public = private_dir(settings), settings.constitution_keys_path
    existing = local_private_keys(settings)
    if len(existing) >= count:
        return existing
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    public.mkdir(parents=True, exist_ok=True)
    for i in range(len(existing), count):
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        path = private / f"key-{i}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_b64url(raw))
        (public / f"key-{i}.pub").write_text(_b64url(raw_public(key.public_key())))
    return local_private_keys(settings)
