"""Errors of the constitution service; each names the policy hash, key or OPA URL involved."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class PolicyError(SomagentError):
    """Root of the policy errors."""


class InvalidPolicy(PolicyError):
    """A policy document (or its Rego) is malformed; nothing is stored.

    ``errors`` lists ``{"pointer", "message"}`` items for schema violations.
    """

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class UnknownPolicy(PolicyError):
    """No policy with that hash was registered."""


class PolicyStateConflict(PolicyError):
    """The action does not fit the policy's state (signing a revoked policy)."""


class SignatureInvalid(PolicyError):
    """An activation signature is not from a constitution key, or does not verify."""


class PolicyEngineUnavailable(PolicyError):
    """OPA did not answer (or answered an error) at ``url``."""
