"""Errors of the plans package."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class PlansError(SomagentError):
    """Root of the plan errors."""


class InvalidPlanLimits(PlansError, ValueError):
    """A tenant's stored limits or billing profile are malformed; the message names the field."""
