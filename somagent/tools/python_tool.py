"""``python``: run a snippet in the sandbox with ``sys.executable -I -S -u``.

The snippet runs in namespaces (:mod:`somagent.tools.isolation`): no network, a
read-only view of the system, its own scratch directory and pid namespace.
``-I`` isolates from the user's site-packages and environment, ``-S`` skips
``site``, ``-u`` makes stdout unbuffered so output streams as it is produced.
The snippet travels on stdin to a tiny runner that compiles it as
``<snippet>`` and turns ``MemoryError`` into exit code
:data:`~somagent.tools.sandbox.MEMORY_EXIT_CODE`, so the sandbox can tell a
memory-limit hit from an ordinary crash.

Sandbox outcomes map to ``ToolCallFailed.reason_code``: ``timeout``,
``cpu-limit``, ``memory-limit``, ``output-limit`` and ``crashed`` (non-zero
exit, uncaught exception or signal). Each of these is the snippet's own failure,
not the tool's (``infrastructure=False``): it never opens the tool's circuit
breaker. Only a sandbox that cannot start is ``unavailable`` (infrastructure).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from somagent.tools.exceptions import SandboxUnavailable, ToolExecutionError
from somagent.tools.isolation import Isolation, interpreter_paths
from somagent.tools.sandbox import MEMORY_EXIT_CODE, SandboxLimits, run_sandboxed
from somagent.tools.spec import Tool, ToolContext, ToolSpec

MAX_CODE_CHARS: Final = 20_000
DEFAULT_ISOLATION: Final = Isolation()

RUNNER: Final = f"""
import os, sys, traceback
source = sys.stdin.read()
sys.stdin.close()
try:
    code = compile(source, "<snippet>", "exec")
except SyntaxError:
    traceback.print_exc(limit=0)
    sys.exit(2)
try:
    exec(code, {{"__name__": "__main__"}})
except MemoryError:
    sys.stderr.write("MemoryError: the snippet exceeded its memory limit\\n")
    sys.stderr.flush()
    os._exit({MEMORY_EXIT_CODE})
except SystemExit:
    raise
except BaseException:
    traceback.print_exc()
    sys.exit(1)
"""

_CODES: Final = {
    "timeout": "timeout",
    "cpu_limit": "cpu-limit",
    "memory_limit": "memory-limit",
    "output_limit": "output-limit",
    "exit": "crashed",
    "signal": "crashed",
}

ARGS_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["code"],
    "properties": {
        "code": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CODE_CHARS,
            "x-somagent-extract": "code",
        },
    },
}

RESULT_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["stdout", "stderr", "exit_code", "duration_ms"],
    "properties": {
        "stdout": {"type": "string"},
        "stderr": {"type": "string"},
        "exit_code": {"type": "integer"},
        "duration_ms": {"type": "integer", "minimum": 0},
    },
}

SPEC: Final = ToolSpec(
    name="python",
    description="Run a Python code snippet in a sandbox (CPU, memory and time limited) and "
    "return what it prints.",
    args_schema=ARGS_SCHEMA,
    result_schema=RESULT_SCHEMA,
    # Arbitrary code may have effects outside the scratch directory: run at most once.
    side_effect=True,
    timeout_s=10.0,
    rate_class="compute",
    idempotent=False,
)


@dataclass
class PythonSnippet:
    """Executor of ``python``; ``limits.wall_timeout_s`` is capped by the call's timeout.

    ``isolation`` (default: on) runs the snippet in namespaces
    (:mod:`somagent.tools.isolation`): no network, a read-only view of the system and
    the interpreter's installation, its own scratch directory and pid namespace.
    ``None`` runs it with the resource limits only (an operator's explicit choice,
    ``SOMAGENT_TOOL_SANDBOX=none``, for hosts that forbid namespaces).
    """

    limits: SandboxLimits = field(
        default_factory=lambda: SandboxLimits(
            cpu_time_s=5, memory_bytes=512 * 1024 * 1024, wall_timeout_s=10.0
        )
    )
    python: str = sys.executable
    isolation: Isolation | None = field(default_factory=Isolation)

    def command(self) -> tuple[list[str], Isolation | None]:
        """The interpreter's argv and the isolation that lets it run."""
        if self.isolation is None:
            return [self.python, "-I", "-S", "-u", "-c", RUNNER], None
        real, roots = interpreter_paths(self.python)
        iso = replace(self.isolation, read_only=(*self.isolation.read_only, *roots))
        return [real, "-I", "-S", "-u", "-c", RUNNER], iso

    async def __call__(self, arguments: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
        lim = self.limits
        wall = min(lim.wall_timeout_s, ctx.timeout_s)
        limits = SandboxLimits(
            cpu_time_s=max(1, min(lim.cpu_time_s, int(wall) + 1)),
            memory_bytes=lim.memory_bytes,
            wall_timeout_s=wall,
            max_output_bytes=lim.max_output_bytes,
            max_file_bytes=lim.max_file_bytes,
            max_open_files=lim.max_open_files,
        )
        argv, isolation = self.command()
        try:
            result = await run_sandboxed(
                argv,
                stdin=str(arguments["code"]).encode(),
                limits=limits,
                on_output=ctx.emit,
                isolation=isolation,
            )
        except (OSError, SandboxUnavailable) as exc:
            raise ToolExecutionError(
                "unavailable", f"python sandbox could not start: {exc}", infrastructure=True
            ) from exc
        if not result.ok:
            raise ToolExecutionError(
                _CODES.get(result.status, "crashed"),
                f"python snippet {result.describe()}",
                infrastructure=False,
            )
        return {
            "stdout": result.stdout,
            "stderr": result.stderr,
            "exit_code": 0,
            "duration_ms": result.duration_ms,
        }


def python_tool(
    limits: SandboxLimits | None = None, isolation: Isolation | None = DEFAULT_ISOLATION
) -> Tool:
    """The ``python`` tool; ``isolation`` None: resource limits only (see PythonSnippet)."""
    if limits is None:
        return Tool(SPEC, PythonSnippet(isolation=isolation))
    return Tool(SPEC, PythonSnippet(limits, isolation=isolation))
