"""Errors of the tool broker, registry and sandbox."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class ToolError(SomagentError):
    """Root of tool errors; messages name the tool (and tenant where known)."""


class ToolSpecError(ToolError):
    """A tool specification is malformed (bad name, schema, timeout...)."""


class UnknownTool(ToolError):
    """No tool of that name is registered."""


class DuplicateTool(ToolError):
    """A second tool tried to register under a name already taken."""


class ToolExecutionError(ToolError):
    """A tool ran and failed; ``code`` is the stable ``ToolCallFailed.reason_code``.

    Codes: ``bad-input`` (arguments valid by schema but unusable, e.g. a
    division by zero), ``timeout``, ``crashed``, ``memory-limit``, ``cpu-limit``,
    ``output-limit``, ``unavailable`` (a dependency such as ClickHouse failed),
    ``rejected`` (a guard refused the input, e.g. a non read-only SQL statement),
    ``query-failed`` (the engine refused or could not run a query).

    ``infrastructure`` says whose failure it is: True when the tool or what it
    depends on failed (it counts against the tool's circuit breaker and may be
    retried), False when the caller's own input or program failed (a snippet that
    exits non-zero or runs out of its limits, SQL the engine refuses): the tool
    worked, so the breaker is not touched. Default: only ``unavailable`` is an
    infrastructure failure.
    """

    def __init__(self, code: str, message: str, *, infrastructure: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.infrastructure = code == "unavailable" if infrastructure is None else infrastructure


class CalcError(ToolExecutionError):
    """An arithmetic expression could not be parsed or evaluated; names the position."""

    def __init__(self, message: str) -> None:
        super().__init__("bad-input", message)


class SandboxUnavailable(ToolError):
    """The isolated sandbox could not be set up (bubblewrap missing, namespaces not
    permitted, egress asked for that cannot be enforced); the message says which."""
