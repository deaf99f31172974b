"""Ed25519 signing keys for session tokens, kept under ``SOMAGENT_HOME/keys/jwt/``.

Layout::

    keys/jwt/active            kid of the key that signs new tokens
    keys/jwt/<kid>.key.pem     private key of the active kid only (mode 0600)
    keys/jwt/<kid>.pub.pem     public key of every kid ever active (verification)

``kid`` is the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
The first :func:`load_keyring` creates a key; :func:`rotate` makes a new active
key and deletes the previous private key, keeping its public key so tokens it
signed stay valid until they expire. Changes are made under an exclusive file
lock, so concurrent processes never create two first keys. A running process
picks up a rotation lazily: an unknown ``kid`` makes it re-read the directory.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from somagent.api.exceptions import KeyStoreError

RELOAD_MIN_INTERVAL_S = 1.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint: SHA-256 of the canonical JWK members, base64url."""
    canonical = json.dumps(public_jwk(key), separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def keys_dir(home: Path) -> Path:
    return home / "keys" / "jwt"


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _new_key(directory: Path) -> str:
    private = Ed25519PrivateKey.generate()
    kid = thumbprint(private.public_key())
    _write(
        directory / f"{kid}.key.pem",
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    _write(
        directory / f"{kid}.pub.pem",
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        0o644,
    )
    _write(directory / "active", kid.encode(), 0o644)
    return kid


@dataclass(frozen=True)
class KeySet:
    """The active signing key and every public key, by kid."""

    active_kid: str
    signing_key: Ed25519PrivateKey
    public_keys: dict[str, Ed25519PublicKey]


def _read(directory: Path) -> KeySet:
    try:
        active = (directory / "active").read_text().strip()
        private = serialization.load_pem_private_key(
            (directory / f"{active}.key.pem").read_bytes(), password=None
        )
        publics: dict[str, Ed25519PublicKey] = {}
        for path in directory.glob("*.pub.pem"):
            key = serialization.load_pem_public_key(path.read_bytes())
            if isinstance(key, Ed25519PublicKey):
                publics[path.name.removesuffix(".pub.pem")] = key
    except (OSError, ValueError) as exc:
        raise KeyStoreError(f"signing keys in {directory} are unreadable: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyStoreError(f"{directory}/{active}.key.pem is not an Ed25519 key")
    if thumbprint(private.public_key()) != active:
        raise KeyStoreError(f"{directory}/{active}.key.pem does not match its kid")
    return KeySet(active, private, publics)


def ensure_keys(directory: Path) -> KeySet:
    """The key set in ``directory``, creating the first key if there is none."""
    with _locked(directory):
        if not (directory / "active").exists():
            _new_key(directory)
        return _read(directory)


def rotate(directory: Path) -> str:
    """Make a new active key; drop the old private key, keep its public key. Returns the kid."""
    with _locked(directory):
        old = (directory / "active").read_text().strip() if (directory / "active").exists() else ""
        kid = _new_key(directory)
        if old and old != kid:
            (directory / f"{old}.key.pem").unlink(missing_ok=True)
        return kid


class KeyRing:
    """Thread-safe access to the key set, re-read when an unknown kid shows up."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._keys = ensure_keys(directory)
        self._lock = threading.Lock()
        self._loaded_at = time.monotonic()

    @property
    def active(self) -> tuple[str, Ed25519PrivateKey]:
        keys = self._keys
        return keys.active_kid, keys.signing_key

    def reload(self) -> None:
        with self._lock, _locked(self.directory):
            self._keys = _read(self.directory)
            self._loaded_at = time.monotonic()

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key of ``kid``; re-reads the directory (at most once a second) on a miss."""
        found = self._keys.public_keys.get(kid)
        if found is None and time.monotonic() - self._loaded_at >= RELOAD_MIN_INTERVAL_S:
            self.reload()
            found = self._keys.public_keys.get(kid)
        return found

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Every verification key as a JWK Set (``kid``, ``alg``, ``use`` added)."""
        return {
            "keys": [
                {**public_jwk(key), "kid": kid, "alg": "EdDSA", "use": "sig"}
                for kid, key in sorted(self._keys.public_keys.items())
            ]
        }
