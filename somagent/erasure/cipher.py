"""Envelope encryption of text fields with per-tenant data keys (pure; AES-256-GCM).

* A **data key** (DEK) is 32 random bytes per tenant. Text sealed with it is
  ``enc1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`` — still a string, so it
  fits every Avro string field unchanged. The associated data binds the value to
  its tenant and field (``{tenant}|{field}``): a sealed value copied into another
  tenant's event or another field does not open.
* The DEK is stored **wrapped** by the master key: AES-256-GCM over the DEK with
  the tenant id as associated data (a wrapped key moved to another tenant's row
  does not unwrap).

Nonces are 96 random bits per seal (``os.urandom`` via the library), so one key
may seal up to ~2³² values before the birthday bound matters (NIST SP 800-38D).
The primitives are ``cryptography``'s ``AESGCM`` (OpenSSL); nothing is hand-rolled.
"""

from __future__ import annotations

import base64
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from somagent.erasure.exceptions import CipherError

PREFIX: Final = "enc1:"
#: What a sealed field reads as once its tenant's key is destroyed.
ERASED: Final = "[erased]"
KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12


def new_data_key() -> bytes:
    """32 random bytes (AES-256)."""
    return AESGCM.generate_key(bit_length=256)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def wrap(master: bytes, tenant: str, data_key: bytes) -> bytes:
    """``nonce ‖ AES-GCM(master, data_key, aad=tenant)``."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, tenant.encode())


def unwrap(master: bytes, tenant: str, wrapped: bytes) -> bytes:
    """The data key inside ``wrapped``; :class:`CipherError` if it is not ``tenant``'s or
    the master key differs."""
    try:
        key = AESGCM(master).decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:],
                                     tenant.encode())
    except (InvalidTag, ValueError) as exc:
        raise CipherError(f"the data key of tenant {tenant} does not unwrap with this "
                          "master key") from exc
    if len(key) != KEY_BYTES:
        raise CipherError(f"the data key of tenant {tenant} has {len(key)} bytes, not 32")
    return key


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(data_key: bytes, key_id: str, tenant: str, field: str, text: str) -> str:
    """``text`` sealed for ``tenant``'s ``field`` (see the module doc for the format)."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, text.encode("utf-8"), f"{tenant}|{field}".encode())
    return f"{PREFIX}{key_id}:{_b64(nonce + sealed)}"


def key_id_of(value: str) -> str:
    """The key id a sealed value names; :class:`CipherError` if it is not sealed."""
    if not is_sealed(value):
        raise CipherError("value is not sealed (no enc1: prefix)")
    key_id, sep, _ = value[len(PREFIX):].partition(":")
    if not sep or not key_id:
        raise CipherError("sealed value has no key id")
    return key_id


def open_sealed(data_key: bytes, tenant: str, field: str, value: str) -> str:
    """The text inside ``value``; :class:`CipherError` when it was sealed for another
    tenant, field or key, or was altered."""
    key_id_of(value)
    body = value[len(PREFIX):].partition(":")[2]
    try:
        raw = _unb64(body)
        text = AESGCM(data_key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                        f"{tenant}|{field}".encode())
    except (InvalidTag, ValueError) as exc:
        raise CipherError(f"sealed {field} of tenant {tenant} does not open") from exc
    return text.decode("utf-8")
