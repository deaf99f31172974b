"""Errors of the analytics service and of its HTTP client.

:class:`ClickHouseError` is the one error a ClickHouse statement produces, on
either side of the wire: the service raises it for what its own checks refuse
and for every error the engine reports, and renders it exactly as ClickHouse's
HTTP interface does; :class:`~somagent.analytics.client.HttpClickHouse` raises
it for every error response (from this service or from a ClickHouse server),
with the code and name the server sent.
"""

from __future__ import annotations

from somagent.exceptions import SomagentError


class AnalyticsError(SomagentError):
    """Root of the analytics errors (service start-up, configuration, transport)."""


class ClickHouseError(AnalyticsError):
    """A ClickHouse error: ``code`` (e.g. 497), ``name`` (e.g. ``ACCESS_DENIED``), ``message``.

    ``status`` is the HTTP status the error travelled with (0 when not known).
    """

    def __init__(self, code: int, name: str, message: str, status: int = 0) -> None:
        self.code = code
        self.name = name
        self.message = message
        self.status = status
        super().__init__(f"Code: {code}. DB::Exception: {message} ({name or 'UNKNOWN'})")


class EngineUnavailable(AnalyticsError):
    """The embedded engine could not be opened over its directory (another owner, bad path)."""
