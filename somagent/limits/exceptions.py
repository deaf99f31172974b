"""Errors of the Redis guards."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class LimitsError(SomagentError):
    """Root of the guard errors."""


class GuardUnavailable(LimitsError):
    """Redis did not answer a guard call; the message names the key and the server."""


class InvalidLimit(LimitsError, ValueError):
    """A limit, window or amount is out of range; the message names the key."""
