"""Errors raised by ``somagent.memory``; all derive from :class:`SomagentError`.

Messages name the tenant, collection, memory id or component involved.
"""

from __future__ import annotations

from somagent.exceptions import SomagentError


class MemoryError_(SomagentError):
    """Root of memory errors (trailing underscore: ``MemoryError`` is a builtin)."""


class InvalidRecallRequest(MemoryError_, ValueError):
    """A recall request is malformed (empty query, ``top_k`` outside 1..50, bad capsule ids).

    Also a :class:`ValueError`, so callers that validate generically still catch it.
    """


class InvalidRememberRequest(MemoryError_, ValueError):
    """A remember request is refused before it is appended (text not a string or too large)."""


class MemoryPolicyDenied(InvalidRememberRequest):
    """The session's constitution policy refused a memory write (the gateway's 403
    ``policy-denied``); ``policy_hash`` and ``rule`` say which."""

    def __init__(self, message: str, policy_hash: str | None, rule: str | None) -> None:
        super().__init__(message)
        self.policy_hash = policy_hash
        self.rule = rule


class EmbeddingError(MemoryError_):
    """An embedder could not produce vectors (bad dimension, model failed to load)."""


class MemoryStoreError(MemoryError_):
    """The vector store refused or failed an operation; the message names collection and tenant."""


class MalformedMemoryEvent(MemoryError_):
    """A memory event handed to the projector lacks a field or has the wrong type."""


class InvalidPiiKey(MemoryError_, ValueError):
    """The keyed-hash key for PII redaction is missing or too short."""


class InvalidBrainRequest(MemoryError_, ValueError):
    """A brain evaluate or feedback request is malformed (nothing changed)."""


class UnknownBundle(InvalidBrainRequest):
    """Feedback names a bundle this gateway did not build for that tenant (or forgot)."""


class UnknownEvidence(InvalidBrainRequest):
    """Feedback marks memory ids that were not candidates of the bundle."""


class WeightsOutOfBounds(InvalidBrainRequest):
    """Explicit utility weights outside the configured bounds."""
