"""Detached server processes tracked by pid file, and loopback port checks.

A server the stack starts runs in its own session (it survives the ``somagent``
command that launched it) and is remembered by a pid file under
``$SOMAGENT_HOME/run``. ``stop`` signals that pid and waits for it to exit.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

from somagent.stack.exceptions import PortTaken, StackError
from somagent.wait import until


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.3) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def require_port_free(port: int, component: str) -> None:
    """Raise :class:`PortTaken` naming the component when ``port`` is already bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortTaken(
                f"{component}: port 127.0.0.1:{port} is taken by another process; "
                f"stop it or set a different SOMAGENT_*_PORT"
            ) from exc


def free_port() -> int:
    """An ephemeral loopback port that was free a moment ago (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` if that process is still alive, else None."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def spawn(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start ``argv`` detached (own session), stdout/stderr appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"could not start {argv[0]}: {exc}") from exc
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_pid(pid: int, *, timeout_s: float = 20.0, sig: int = signal.SIGTERM) -> bool:
    """Signal ``pid`` and wait for it to exit; SIGKILL after ``timeout_s``. True if it was alive."""
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return False
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout_s)
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except psutil.NoSuchProcess:
        pass
    return True


def exited_early(pid: int, log_file: Path, component: str) -> None:
    """Raise a :class:`StackError` with the log's tail when a just-started server died."""
    if pid_alive(pid):
        return
    try:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
    except OSError:
        tail = ""
    raise StackError(f"{component} exited during start-up; last lines of {log_file}:\n{tail}")


def await_ready(
    pid: int, log_file: Path, component: str, probe: Callable[[], bool], *,
    timeout_s: float, what: str,
) -> None:
    """Wait until ``probe`` holds for the server ``pid`` just started (or found running);
    a server that exits meanwhile raises :class:`StackError` with its log's tail at once,
    not after ``timeout_s``."""

    def ready() -> bool:
        exited_early(pid, log_file, component)
        return probe()

    until(ready, timeout_s=timeout_s, what=what)


def stop_recorded(pid_file: Path, *, timeout_s: float = 20.0) -> bool:
    """Stop the server recorded in ``pid_file`` and forget it; False when none was."""
    pid = read_pid(pid_file)
    if pid is None:
        return False
    stopped = stop_pid(pid, timeout_s=timeout_s)
    pid_file.unlink(missing_ok=True)
    return stopped


def which(program: str, component: str, hint: str) -> str:
    """Absolute path of ``program`` or :class:`MissingTool` naming the component."""
    from shutil import which as _which

    from somagent.stack.exceptions import MissingTool

    found = _which(program)
    if not found:
        raise MissingTool(f"{component} needs `{program}` on PATH: {hint}")
    return found
