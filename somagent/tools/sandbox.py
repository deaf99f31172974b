"""Run a command in a constrained subprocess and stream its output as it appears.

Each run gets:

* ``RLIMIT_CPU`` (soft = the CPU budget, hard = one second more),
  ``RLIMIT_AS`` (address space), ``RLIMIT_FSIZE`` (largest file it may write),
  ``RLIMIT_NOFILE`` (open descriptors) and ``RLIMIT_CORE`` = 0, set in the
  child before ``exec``;
* a wall-clock timeout after which the whole process group is killed;
* an environment scrubbed to ``PATH``, ``LANG``, ``HOME`` and ``TMPDIR`` (the
  scratch directory) — no secrets are inherited;
* a fresh scratch working directory, removed afterwards whatever happened;
* its own session (process group), so children die with it;
* stdout read chunk by chunk and handed to ``on_output`` as produced; stdout
  and stderr are capped at ``max_output_bytes`` each (over the cap the run
  ends with ``output_limit``). If ``on_output`` raises, the process group is
  killed and that exception propagates from :func:`run_sandboxed`.

:class:`SandboxResult.status` tells the outcomes apart: ``ok``, ``exit``
(non-zero exit code), ``signal`` (killed by a signal), ``timeout`` (wall
clock), ``cpu_limit`` (SIGXCPU / CPU budget), ``memory_limit`` (allocation
failed under ``RLIMIT_AS``) and ``output_limit``.

With ``isolation`` (:mod:`somagent.tools.isolation`, bubblewrap) the run also
gets no network, a read-only view of the system without the platform's data,
its scratch directory as the only writable host path, and its own pid namespace;
a sandbox that cannot be set up raises
:class:`~somagent.tools.exceptions.SandboxUnavailable`. The ``python`` tool always
runs isolated. Without ``isolation`` (a caller's explicit choice) the limits above
are all there is.

Memory-limit detection: a process whose allocation fails under ``RLIMIT_AS``
either reports it (Python raises ``MemoryError``; the runner used by the
``python`` tool exits with :data:`MEMORY_EXIT_CODE`) or aborts. The sandbox
classifies exit code :data:`MEMORY_EXIT_CODE`, or a stderr tail naming
``MemoryError``/``Cannot allocate memory``/``bad_alloc``, as ``memory_limit``.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import resource
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from somagent.tools.exceptions import SandboxUnavailable
from somagent.tools.isolation import Isolation, as_returncode, bwrap_command, read_status

MEMORY_EXIT_CODE: Final = 86
DEFAULT_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
_CHUNK: Final = 4096
_DRAIN_S: Final = 3.0
_MEMORY_MARKERS: Final = ("MemoryError", "Cannot allocate memory", "bad_alloc", "out of memory")

OutputSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one run: seconds of CPU, bytes of address space, seconds of wall clock."""

    cpu_time_s: int = 5
    memory_bytes: int = 512 * 1024 * 1024
    wall_timeout_s: float = 10.0
    max_output_bytes: int = 1024 * 1024
    max_file_bytes: int = 16 * 1024 * 1024
    max_open_files: int = 256


@dataclass(frozen=True)
class SandboxResult:
    """What happened. ``stdout``/``stderr`` are decoded UTF-8 (invalid bytes replaced)."""

    status: str
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        """One line for error messages and ``ToolCallFailed.message``."""
        tail = self.stderr.strip().splitlines()[-1:] if self.stderr.strip() else []
        how = {
            "exit": f"exited with code {self.exit_code}",
            "signal": f"killed by signal {self.signal}",
            "timeout": "exceeded its wall-clock limit",
            "cpu_limit": "exceeded its CPU-time limit",
            "memory_limit": "exceeded its memory limit",
            "output_limit": "produced more output than allowed",
        }.get(self.status, self.status)
        return how + (f": {tail[0][:300]}" if tail else "")


def _limiter(limits: SandboxLimits) -> Callable[[], None]:
    cpu, mem, fsize = limits.cpu_time_s, limits.memory_bytes, limits.max_file_bytes
    nofile = limits.max_open_files

    def apply() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return apply


def scrubbed_env(workdir: str, lang: str = "C.UTF-8") -> dict[str, str]:
    """The only environment a sandboxed process sees."""
    return {"PATH": DEFAULT_PATH, "LANG": lang, "HOME": workdir, "TMPDIR": workdir}


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class _Capped:
    """Collects bytes up to a cap; remembers whether the cap was hit."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.overflow = False

    def add(self, chunk: bytes) -> bytes:
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.overflow = True
            chunk = chunk[: max(room, 0)]
        self.data.extend(chunk)
        return chunk


@dataclass
class _Stop:
    """Why supervision should end early: output over the cap, or the sink failed."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    sink_error: BaseException | None = None


async def _pump(
    stream: asyncio.StreamReader,
    sink: _Capped,
    on_output: OutputSink | None,
    stop: _Stop,
) -> None:
    decoder = _Utf8Stream()
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            break
        if sink.overflow or stop.sink_error is not None:
            # Keep draining: asyncio only reports the exit once every pipe hit EOF.
            continue
        kept = sink.add(chunk)
        text = decoder.feed(kept) if on_output is not None and kept else ""
        if text:
            await _deliver(on_output, text, stop)
        if sink.overflow:
            stop.event.set()
    rest = decoder.flush() if on_output is not None else ""
    if rest and stop.sink_error is None:
        await _deliver(on_output, rest, stop)


async def _deliver(on_output: OutputSink | None, text: str, stop: _Stop) -> None:
    """Hand output to the caller's sink; a failing sink ends the run (its error is re-raised)."""
    if on_output is None:
        return
    try:
        await on_output(text)
    except Exception as exc:
        stop.sink_error = exc
        stop.event.set()


class _Utf8Stream:
    """Decodes a byte stream without splitting multi-byte characters across chunks."""

    def __init__(self) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._dec.decode(data)

    def flush(self) -> str:
        return self._dec.decode(b"", final=True)


def _classify(
    returncode: int, stderr: str, timed_out: bool, overflowed: bool
) -> tuple[str, int | None, int | None]:
    if timed_out:
        return "timeout", None, -returncode if returncode < 0 else None
    if overflowed:
        return "output_limit", None, -returncode if returncode < 0 else None
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and "CPU" in stderr):
            return "cpu_limit", None, sig
        if any(m in stderr for m in _MEMORY_MARKERS):
            return "memory_limit", None, sig
        return "signal", None, sig
    if returncode == 0:
        return "ok", 0, None
    if returncode == MEMORY_EXIT_CODE or any(m in stderr[-2000:] for m in _MEMORY_MARKERS):
        return "memory_limit", returncode, None
    return "exit", returncode, None


ReturnCode = Callable[[int, str, bool], int]


def _plain_returncode(returncode: int, stderr: str, killed: bool) -> int:
    return returncode


def _isolated_returncode(status_fd: int) -> ReturnCode:
    """The command's own exit status from bwrap's status reports (see isolation)."""

    def decode(returncode: int, stderr: str, killed: bool) -> int:
        raw = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(status_fd, 65536):
                raw += chunk
        status = read_status(raw)
        if status.exit_code is not None:
            return as_returncode(status.exit_code)
        if not status.started and not killed:
            tail = stderr.strip().splitlines()[-1:] or [f"exit status {returncode}"]
            raise SandboxUnavailable(f"the isolated sandbox could not be set up: {tail[0][:300]}")
        return returncode  # bwrap itself was killed (timeout, output limit)

    return decode


async def run_sandboxed(
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    limits: SandboxLimits | None = None,
    on_output: OutputSink | None = None,
    files: dict[str, bytes] | None = None,
    isolation: Isolation | None = None,
) -> SandboxResult:
    """Run ``argv`` under ``limits`` in a fresh scratch directory (see module doc),
    inside namespaces when ``isolation`` is given.

    ``files`` are written into the scratch directory first (name → content;
    names must be plain file names). Never raises for what the child does; raises
    ``OSError`` if the executable cannot be started and
    :class:`~somagent.tools.exceptions.SandboxUnavailable` if the isolation cannot
    be set up.
    """
    lim = limits or SandboxLimits()
    workdir = tempfile.mkdtemp(prefix="somagent-sandbox-")
    started = time.monotonic()
    status_r, status_w = -1, -1
    try:
        for name, content in (files or {}).items():
            if os.path.basename(name) != name or name in ("", ".", ".."):
                raise ValueError(f"sandbox file name {name!r} must be a plain file name")
            with open(os.path.join(workdir, name), "wb") as fh:
                fh.write(content)
        command: list[str] = list(argv)
        decode: ReturnCode = _plain_returncode
        if isolation is not None:
            status_r, status_w = os.pipe()
            os.set_blocking(status_r, False)
            command = bwrap_command(isolation, argv, workdir, status_w)
            decode = _isolated_returncode(status_r)
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=workdir,
            env=scrubbed_env(workdir),
            preexec_fn=_limiter(lim),
            start_new_session=True,
            close_fds=True,
            pass_fds=(status_w,) if status_w >= 0 else (),
        )
        if status_w >= 0:
            os.close(status_w)
            status_w = -1
        return await _supervise(proc, stdin, lim, on_output, started, decode)
    finally:
        for fd in (status_r, status_w):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)


async def _reap(proc: asyncio.subprocess.Process, waiter: asyncio.Task[int]) -> None:
    """Wait for the child, bounded even if a descendant that left the process group
    still holds a pipe open: asyncio reports the exit only after every pipe's EOF."""
    done, _ = await asyncio.wait({waiter}, timeout=_DRAIN_S)
    _kill_group(proc)  # stray grandchildren of a finished child
    if waiter in done:
        return
    while proc.returncode is None:  # the exit status is known before the pipes close
        done, _ = await asyncio.wait({waiter}, timeout=0.05)
        if waiter in done:
            return
    transport = getattr(proc, "_transport", None)  # no public way to drop the pipes
    if transport is not None:
        transport.close()
    waiter.cancel()


async def _feed_stdin(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            proc.stdin.write(data)
            await proc.stdin.drain()
        proc.stdin.close()


async def _supervise(
    proc: asyncio.subprocess.Process,
    stdin: bytes,
    lim: SandboxLimits,
    on_output: OutputSink | None,
    started: float,
    decode: ReturnCode = _plain_returncode,
) -> SandboxResult:
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _Capped(lim.max_output_bytes), _Capped(lim.max_output_bytes)
    stop = _Stop()
    tasks = [
        asyncio.create_task(_feed_stdin(proc, stdin)),
        asyncio.create_task(_pump(proc.stdout, out, on_output, stop)),
        asyncio.create_task(_pump(proc.stderr, err, None, stop)),
    ]
    waiter = asyncio.create_task(proc.wait())
    stop_wait = asyncio.create_task(stop.event.wait())
    timed_out = False
    try:
        done, _ = await asyncio.wait(
            {waiter, stop_wait},
            timeout=lim.wall_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if waiter not in done:
            timed_out = not stop.event.is_set()
            _kill_group(proc)
        await _reap(proc, waiter)
        await asyncio.wait(tasks, timeout=_DRAIN_S)
    except BaseException:  # cancelled (the caller's timeout) or the sink failed
        _kill_group(proc)
        transport = getattr(proc, "_transport", None)  # release the pipes now, not at GC
        if transport is not None:
            transport.close()
        raise
    finally:
        stop_wait.cancel()
        for t in tasks:
            t.cancel()
    if stop.sink_error is not None:
        raise stop.sink_error
    stderr = err.data.decode("utf-8", errors="replace")
    killed = timed_out or stop.event.is_set()
    returncode = decode(proc.returncode if proc.returncode is not None else -9, stderr, killed)
    status, code, sig = _classify(returncode, stderr, timed_out, out.overflow or err.overflow)
    return SandboxResult(
        status=status,
        exit_code=code,
        signal=sig,
        stdout=out.data.decode("utf-8", errors="replace"),
        stderr=stderr,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
