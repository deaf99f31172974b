"""Errors of the projectors, replay, audit and SQL commands."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class ProjectionError(SomagentError):
    """Root of the projection errors; messages name the projector, topic and partition."""


class ReadOnlyViolation(ProjectionError):
    """``somagent sql`` was given something other than one read-only SELECT."""


class VerifyMismatch(ProjectionError):
    """Replayed read models differ from the live ones (the message names the tables)."""
