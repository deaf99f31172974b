"""What a tool is: its specification (data) and its executor (code)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from somagent.tools.exceptions import ToolSpecError
from somagent.tools.validation import check_schema

NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ToolSpec:
    """A tool's contract.

    ``args_schema`` and ``result_schema`` are JSON Schema (Draft 2020-12)
    documents; arguments are validated before anything runs and results after.
    ``side_effect`` tools are guarded by an idempotency record so they run at
    most once per call; ``idempotent`` tools may be retried with backoff.
    ``timeout_s`` bounds one execution (wall clock); ``rate_class`` names the
    rate/budget bucket; ``instances`` is how many interchangeable executors exist
    (the scheduler assigns calls to them). ``egress_url_arg`` marks a network tool.
    """

    name: str
    description: str
    args_schema: Mapping[str, Any]
    result_schema: Mapping[str, Any]
    side_effect: bool = False
    timeout_s: float = 10.0
    rate_class: str = "default"
    idempotent: bool = True
    instances: int = 1
    #: Network tools: the argument holding the URL whose host the policy's egress
    #: allow-list must name (``http_fetch``: ``url``); None for tools without egress.
    egress_url_arg: str | None = None

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ToolSpecError(f"tool name {self.name!r} must match {NAME_RE.pattern}")
        if not self.description.strip():
            raise ToolSpecError(f"tool {self.name}: description is empty")
        if not 0 < self.timeout_s <= 3600:
            raise ToolSpecError(
                f"tool {self.name}: timeout_s must be in (0, 3600], got {self.timeout_s}"
            )
        if self.instances < 1:
            raise ToolSpecError(f"tool {self.name}: instances must be >= 1, got {self.instances}")
        check_schema(self.args_schema, f"tool {self.name} args_schema")
        check_schema(self.result_schema, f"tool {self.name} result_schema")


DeltaSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ToolContext:
    """Per-call facts an executor may use. ``emit`` streams output as it is produced."""

    tenant: str
    timeout_s: float
    turn_id: str = ""
    call_id: str = ""
    idem_key: str = ""
    on_delta: DeltaSink | None = field(default=None, compare=False)
    #: Which of the tool's interchangeable instances runs this call (``{tool}#{k}``).
    instance_id: str = ""

    async def emit(self, chunk: str) -> None:
        if self.on_delta is not None and chunk:
            await self.on_delta(chunk)


class ToolExecutor(Protocol):
    """Runs one call; returns a JSON value or raises ``ToolExecutionError``."""

    async def __call__(self, arguments: Mapping[str, Any], ctx: ToolContext) -> Any: ...


@dataclass(frozen=True)
class Tool:
    """A registered tool: its spec and the code that runs it."""

    spec: ToolSpec
    execute: ToolExecutor

    @property
    def name(self) -> str:
        return self.spec.name
