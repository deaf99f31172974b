"""Run each ``bench/*.py`` as its own process and collect the JSON it prints.

Each script runs as ``sys.executable -P bench/<name>.py [args]`` (``-P`` keeps
``bench/`` off ``sys.path``: ``bench/math.py`` would shadow the standard library)
from the repository root, with this process's environment (so ``bench/turns.py``
finds the stack ``somagent up`` started) and a wall-clock limit. A script that
runs past its limit gets SIGINT first (so its ``finally`` blocks stop any private
stack it started), then SIGKILL after a grace period. A failure — non-zero exit,
timeout, or stdout that is not one JSON object — is recorded with the tail of
stderr; the other scripts still run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from somagent.benchmarks.exceptions import BenchError

#: Arguments per script; ``--quick`` for every script not listed.
QUICK_ARGS: dict[str, list[str]] = {
    # scripts without --quick: a smaller run by their own knobs
    "edge": ["--streams", "1000", "--rate", "1000"],
    "brain": ["--epochs", "1"],
    "policy": ["--calls", "500"],
    "tracing": ["--turns", "20"],
}
#: ``bench/*.py`` that are not benchmarks (data generators): never run by ``bench``.
NOT_BENCHMARKS: frozenset[str] = frozenset({"brain_recall_set"})
FULL_ARGS: dict[str, list[str]] = {}
#: Extra runs of a script under another result name: ``edge.small`` holds 100 streams,
#: so memory per stream is the slope of the server's RSS between the two runs.
EXTRA_RUNS: dict[str, list[tuple[str, list[str]]]] = {
    "edge": [("edge.small", ["--streams", "100", "--rate", "1000"])],
}
STDERR_TAIL_CHARS = 4000
KILL_GRACE_S = 90.0


@dataclass
class ScriptResult:
    """What one script did: its JSON (``data``) when it succeeded, else why not."""

    name: str
    args: list[str]
    ok: bool
    seconds: float
    returncode: int | None
    data: dict[str, Any] | None = None
    error: str = ""
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "args": self.args, "ok": self.ok,
                "seconds": round(self.seconds, 1), "returncode": self.returncode,
                "error": self.error, "stderr_tail": self.stderr_tail, "data": self.data}


def discover(bench_dir: Path, only: Sequence[str] = ()) -> list[Path]:
    """``bench/*.py`` (not ``_private.py`` nor :data:`NOT_BENCHMARKS`), sorted; ``only``
    keeps those names."""
    if not bench_dir.is_dir():
        raise BenchError(f"no benchmark folder at {bench_dir}")
    scripts = sorted(p for p in bench_dir.glob("*.py")
                     if not p.name.startswith("_") and p.stem not in NOT_BENCHMARKS)
    if only:
        unknown = set(only) - {p.stem for p in scripts}
        if unknown:
            raise BenchError(f"no bench/{sorted(unknown)[0]}.py in {bench_dir}")
        scripts = [p for p in scripts if p.stem in only]
    return scripts


def parse_output(name: str, stdout: str) -> dict[str, Any]:
    """The JSON object a script printed (the whole stdout, else its last ``{...}`` block)."""
    text = stdout.strip()
    try:
        data = json.loads(text)
    except ValueError:
        start = text.rfind("\n{")
        try:
            data = json.loads(text[start + 1:] if start >= 0 else text)
        except ValueError as exc:
            raise BenchError(f"bench/{name}.py printed no JSON object: {text[-200:]!r}") from exc
    if not isinstance(data, dict):
        raise BenchError(f"bench/{name}.py printed JSON that is not an object")
    return data


def args_for(name: str, quick: bool) -> list[str]:
    if quick:
        return list(QUICK_ARGS.get(name, ["--quick"]))
    return list(FULL_ARGS.get(name, []))


def runs_for(name: str, quick: bool) -> list[tuple[str, list[str]]]:
    """(result name, arguments) of each run of script ``name``."""
    return [(name, args_for(name, quick)), *EXTRA_RUNS.get(name, [])]


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGINT (lets the script stop its private stack), then SIGKILL its process group."""
    try:
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default action. A runner started in
    the background by a shell (``make test &``) inherits SIGINT ignored, and Python then
    never turns it into KeyboardInterrupt, so the script could not stop its stack."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_script(path: Path, args: list[str], timeout_s: float, cwd: Path,
               name: str | None = None) -> ScriptResult:
    """Run one script to completion (or its limit) and read its JSON."""
    name = name or path.stem
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-P", str(path), *args], cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=_default_sigint,
    )
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        stdout, stderr = _stop(proc)
    except KeyboardInterrupt:  # the script runs in its own session: pass Ctrl-C on
        _stop(proc)
        raise
    seconds = time.monotonic() - started
    tail = stderr[-STDERR_TAIL_CHARS:]
    result = ScriptResult(name, args, False, seconds, proc.returncode, stderr_tail=tail)
    if timed_out:
        result.error = f"bench/{path.name} ran past its {timeout_s:.0f} s limit"
    elif proc.returncode != 0:
        result.error = f"bench/{path.name} exited with status {proc.returncode}"
    else:
        try:
            result.data = parse_output(name, stdout)
            result.ok = True
        except BenchError as exc:
            result.error = str(exc)
    return result


def run_all(
    scripts: Sequence[Path], *, quick: bool, timeout_s: float, cwd: Path,
    on_done: Callable[[ScriptResult], None] | None = None,
    on_start: Callable[[Path, list[str]], None] | None = None,
) -> list[ScriptResult]:
    """Run ``scripts`` one after another (they share the machine; never in parallel)."""
    results = []
    for path in scripts:
        for name, args in runs_for(path.stem, quick):
            if on_start is not None:
                on_start(path, args)
            result = run_script(path, args, timeout_s, cwd, name)
            if on_done is not None:
                on_done(result)
            results.append(result)
    return results
