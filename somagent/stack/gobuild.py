"""Go programs the stack runs (Temporal CLI, OPA, the S3 gateway, Jaeger), built once
from the Go module proxy into the cache directory beside the Kafka jars.

Guarantees: a build runs at most once at a time per target (an exclusive lock file
beside it; a process that waited finds the binary and returns it); a binary appears at
its target only complete (built in a temporary directory, then renamed); a failed or
timed-out build raises :class:`StackError` with the command and the tail of its
output, and leaves nothing at the target.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from somagent.stack.exceptions import MissingTool, StackError

OUTPUT_TAIL_CHARS = 3000


def go_binary(component: str, hint: str) -> str:
    """The ``go`` command (on PATH, else the Go distribution's /usr/local/go/bin)."""
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        raise MissingTool(f"{component} needs the Go toolchain (`go` on PATH): {hint}")
    return go


def run_go(component: str, command: list[str], *, timeout_s: float, cwd: str | None = None,
           env: dict[str, str] | None = None) -> None:
    """Run one go command; :class:`StackError` naming it when it fails or runs over."""
    try:
        result = subprocess.run(command, cwd=cwd, env={**os.environ, **(env or {})},
                                capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{component}: `{' '.join(command)}` did not finish within "
                         f"{timeout_s:.0f}s") from exc
    if result.returncode != 0:
        raise StackError(f"{component}: `{' '.join(command)}` failed (exit {result.returncode}):"
                         f"\n{(result.stdout + result.stderr)[-OUTPUT_TAIL_CHARS:]}")


def build_once(target: Path, component: str, build: Callable[[Path], Path]) -> Path:
    """``target`` if it exists; else ``build(workdir)`` (returning the built file) under
    the target's lock, and the file moved to ``target``."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it right now
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(dir=target.parent, prefix="build-") as work:
            built = build(Path(work))
            if not built.exists():
                raise StackError(f"{component}: the build left no {built.name} in {work}")
            built.replace(target)
    return target


def go_install(target: Path, component: str, module: str, version: str, *, timeout_s: float,
               hint: str) -> Path:
    """``go install module@vversion`` once, the binary cached at ``target``."""
    go = go_binary(component, hint)

    def build(work: Path) -> Path:
        run_go(component, [go, "install", f"{module}@v{version}"], timeout_s=timeout_s,
               env={"GOBIN": str(work), "GOFLAGS": "-trimpath"})
        return work / target.name

    return build_once(target, component, build)
