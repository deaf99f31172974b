"""Errors of planner providers."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class PlannerError(SomagentError):
    """A planner provider failed (HTTP status, malformed stream); names URL and model."""
