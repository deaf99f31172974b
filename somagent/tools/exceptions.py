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
    ``rejected`` (a guard refused the input, e.g. a non read-only SQL statement).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CalcError(ToolExecutionError):
    """An arithmetic expression could not be parsed or evaluated; names the position."""

    def __init__(self, message: str) -> None:
        super().__init__("bad-input", message)


class SqlRejected(ToolExecutionError):
    """The SQL guard refused a statement; names the offending token."""

    def __init__(self, message: str) -> None:
        super().__init__("rejected", message)
