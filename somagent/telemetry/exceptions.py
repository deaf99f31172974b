"""Errors of the telemetry package."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class TelemetryError(SomagentError):
    """A telemetry surface cannot be read (e.g. no running platform to scrape)."""
