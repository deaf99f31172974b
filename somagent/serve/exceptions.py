"""Errors of the process entry points."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class ServeError(SomagentError):
    """A process could not be assembled or run; the message names the role."""


class DemoError(ServeError):
    """The demo turn could not run against the platform (not ready, or refused)."""
