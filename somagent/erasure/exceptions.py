"""Errors of the erasure package."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class ErasureError(SomagentError):
    """Root of the erasure errors."""


class KeyDestroyed(ErasureError):
    """The tenant's data key was destroyed (its data is erased); the message names the tenant."""


class CipherError(ErasureError):
    """A sealed value or wrapped key does not decrypt (tampered, wrong tenant or key)."""


class KeyStoreUnavailable(ErasureError):
    """Postgres did not answer a key operation; the message names the tenant."""
