"""The sandbox and the python tool, with real subprocesses, each sandbox test both
with and without the namespaces of ``somagent.tools.isolation`` (bubblewrap)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from somagent.exceptions import DeadlineExceeded
from somagent.tools.exceptions import ToolExecutionError
from somagent.tools.isolation import Isolation, interpreter_paths
from somagent.tools.python_tool import SPEC, PythonSnippet
from somagent.tools.sandbox import SandboxLimits, SandboxResult, run_sandboxed
from somagent.tools.spec import ToolContext
from somagent.tools.validation import errors
from somagent.wait import until

PY = [sys.executable, "-I", "-S", "-u", "-c"]
_REAL, _ROOTS = interpreter_paths(sys.executable)
ISOLATED_PY = [_REAL, "-I", "-S", "-u", "-c"]
ISOLATION = Isolation(read_only=_ROOTS)
MODE: list[Isolation | None] = [None]


@pytest.fixture(autouse=True, params=["plain", "isolated"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs without and with namespaces (the python tool's own
    tests run isolated either way: it always is)."""
    MODE[0] = ISOLATION if request.param == "isolated" else None
    yield request.param
    MODE[0] = None


def sandbox(code: str, **kw: Any) -> Any:
    """``run_sandboxed`` of a Python snippet in the current mode (a coroutine)."""
    argv = PY if MODE[0] is None else ISOLATED_PY
    return run_sandboxed([*argv, code], isolation=MODE[0], **kw)


def marked(marker: str) -> list[int]:
    """Host pids of live processes whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
    return found


def run(
    code: str, limits: SandboxLimits | None = None
) -> tuple[SandboxResult, list[tuple[float, str]]]:
    chunks: list[tuple[float, str]] = []
    t0 = time.monotonic()

    async def sink(text: str) -> None:
        chunks.append((time.monotonic() - t0, text))

    result = asyncio.run(sandbox(code, limits=limits, on_output=sink))
    return result, chunks


def test_ok_and_scrubbed_environment_and_scratch_dir() -> None:
    os.environ["SOMAGENT_TEST_SECRET"] = "hunter2"
    try:
        code = "import os, json; print(json.dumps([sorted(os.environ), os.getcwd()]))"
        result, _ = run(code)
    finally:
        del os.environ["SOMAGENT_TEST_SECRET"]
    assert result.status == "ok" and result.exit_code == 0  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "SOMAGENT_TEST_SECRET" not in out and "hunter2" not in out
    import json

    names, cwd = json.loads(out)
    expected = ["HOME", "LANG", "PATH", "TMPDIR"]
    if MODE[0] is not None:  # bwrap's --chdir sets PWD (the scratch directory)
        expected = ["HOME", "LANG", "PATH", "PWD", "TMPDIR"]
    assert names == expected
    assert os.path.basename(cwd).startswith("somagent-sandbox-")
    assert not os.path.exists(cwd), "scratch directory must be removed afterwards"


def test_output_is_streamed_as_produced() -> None:
    code = "import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.4)"
    result, chunks = run(code)
    assert result.status == "ok"  # type: ignore[attr-defined]
    assert "".join(t for _, t in chunks) == "0\n1\n2\n"
    assert len(chunks) >= 2
    # the first line arrived well before the process ended
    assert chunks[0][0] < chunks[-1][0] - 0.3


@pytest.mark.parametrize(
    ("code", "limits", "status"),
    [
        ("import time; time.sleep(30)", SandboxLimits(wall_timeout_s=0.5), "timeout"),
        ("while True: pass", SandboxLimits(cpu_time_s=1, wall_timeout_s=20), "cpu_limit"),
        ("x = bytearray(4 * 1024**3)", SandboxLimits(memory_bytes=256 * 1024**2), "memory_limit"),
        ("import sys; sys.exit(3)", None, "exit"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", None, "signal"),
        ("print('x' * 10**6)", SandboxLimits(max_output_bytes=10_000), "output_limit"),
    ],
)
def test_outcomes_are_told_apart(code: str, limits: SandboxLimits | None, status: str) -> None:
    result, _ = run(code, limits)
    assert result.status == status, result  # type: ignore[attr-defined]


def test_children_are_killed_with_the_group() -> None:
    marker = f"sandbox-child-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'])\n"
        "print(p.pid, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    result, _ = run(code, SandboxLimits(wall_timeout_s=1.0))
    assert result.status == "timeout"  # type: ignore[attr-defined]
    try:
        until(lambda: not marked(marker), timeout_s=5, what="the grandchild to die")
    except DeadlineExceeded:
        pytest.fail(f"grandchild {marked(marker)} survived the sandbox")


def ctx(timeout_s: float = 10.0) -> tuple[ToolContext, list[str]]:
    seen: list[str] = []

    async def sink(text: str) -> None:
        seen.append(text)

    return ToolContext("tenant-a", timeout_s, on_delta=sink), seen


def test_python_tool_runs_snippet_and_streams() -> None:
    c, seen = ctx()
    out = asyncio.run(PythonSnippet()({"code": "print(sum(range(10)))\nprint('done')"}, c))
    assert out["stdout"] == "45\ndone\n" and out["exit_code"] == 0
    assert "".join(seen) == "45\ndone\n"
    assert errors(SPEC.result_schema, out) == []


@pytest.mark.parametrize(
    ("code", "reason", "limits"),
    [
        ("raise ValueError('nope')", "crashed", None),
        ("def f(:\n  pass", "crashed", None),
        ("x = ' ' * (2 * 1024**3)", "memory-limit", SandboxLimits(memory_bytes=256 * 1024**2)),
        ("while True: pass", "cpu-limit", SandboxLimits(cpu_time_s=1, wall_timeout_s=30)),
        ("import time; time.sleep(30)", "timeout", SandboxLimits(wall_timeout_s=0.5)),
    ],
)
def test_python_tool_failures(code: str, reason: str, limits: SandboxLimits | None) -> None:
    c, _ = ctx()
    tool = PythonSnippet(limits) if limits else PythonSnippet()
    with pytest.raises(ToolExecutionError) as info:
        asyncio.run(tool({"code": code}, c))
    assert info.value.code == reason, info.value.message
    if code.startswith("raise"):
        assert "ValueError: nope" in info.value.message


def test_python_tool_honours_call_timeout() -> None:
    c, _ = ctx(timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(ToolExecutionError) as info:
        asyncio.run(PythonSnippet()({"code": "import time; time.sleep(30)"}, c))
    assert info.value.code == "timeout"
    assert time.monotonic() - t0 < 5


def test_a_descendant_that_escapes_the_group_cannot_hang_the_run() -> None:
    """A grandchild in its own session keeps stdout open; the run still ends."""
    marker = f"sandbox-escape-{uuid.uuid4().hex}"
    code = (
        "import os, subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', "
        f"'import time; time.sleep(30)  # {marker}'], start_new_session=True)\n"
        "print('started', flush=True)\n"
    )
    t0 = time.monotonic()
    result, _ = run(code, SandboxLimits(wall_timeout_s=1.0))
    elapsed = time.monotonic() - t0
    try:
        assert elapsed < 10, f"sandbox run took {elapsed:.1f}s"
        assert result.status in ("ok", "timeout")  # type: ignore[attr-defined]
    finally:
        for pid in marked(marker):  # only the process this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_failing_output_sink_stops_the_run_and_propagates() -> None:
    class SinkDown(Exception):
        pass

    async def sink(text: str) -> None:
        raise SinkDown(text)

    code = "import time\nprint('first', flush=True)\ntime.sleep(30)"
    t0 = time.monotonic()
    with pytest.raises(SinkDown, match="first"):
        asyncio.run(sandbox(code, on_output=sink, limits=SandboxLimits(wall_timeout_s=20)))
    assert time.monotonic() - t0 < 10


def test_file_size_and_descriptor_limits() -> None:
    big = "open('f', 'wb').write(b'x' * 10_000_000)"
    result, _ = run(big, SandboxLimits(max_file_bytes=1_000_000))
    assert result.status in ("signal", "exit")  # SIGXFSZ, or the write error
    fds = "import os\nfs = [open(os.devnull) for _ in range(100)]"
    result, _ = run(fds, SandboxLimits(max_open_files=32))
    assert result.status == "exit" and "Too many open files" in result.stderr  # type: ignore[attr-defined]
