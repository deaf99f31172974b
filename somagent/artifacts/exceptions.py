"""Errors of the artifact model; each names the artifact, version, key or tenant involved."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class ArtifactError(SomagentError):
    """Root of the artifact errors."""


class InvalidArtifact(ArtifactError):
    """A document is malformed or does not match its format (nothing is stored).

    ``errors`` lists ``{"pointer", "message"}`` items for schema violations.
    """

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class SignatureRejected(ArtifactError):
    """A DSSE envelope did not verify; ``reason`` is a stable code
    (``malformed-envelope``, ``unknown-key``, ``bad-signature``, ``payload-type``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidKey(ArtifactError):
    """A public signing key is not an Ed25519 key in JWK or PEM form."""


class BlobStoreError(ArtifactError):
    """The object store failed or holds bytes whose digest does not match their key."""
