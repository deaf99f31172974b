"""Namespaces around a sandboxed run, with bubblewrap (``bwrap``).

:func:`bwrap_command` wraps a command so that it runs:

* with **no network**: its own network namespace holds only its own loopback, so
  neither the host's loopback services (Postgres, Redis, Kafka, the analytics
  service …) nor anything beyond the host is reachable;
* on a **read-only view of the system**: ``/usr`` and the other system directories
  (the merged-usr symlinks kept as symlinks), a short list of harmless ``/etc``
  entries (:data:`ETC_ENTRIES`: no ``shadow``, no keys) and ``read_only`` paths
  (the interpreter's installation); nothing else of the host file system exists
  in it (no ``/home``, ``/root``, ``/var``, ``/work``, the platform's data directory
  ``SOMAGENT_HOME``…). ``hidden`` paths are covered by an empty directory even
  where they lie under a bound path;
* in **its own scratch directory**, the only writable host path (bound read-write
  at the same path; ``/tmp`` is a fresh tmpfs);
* in **its own pid namespace** (and IPC, UTS, cgroup and user namespaces): it sees
  only its own processes, and all of them die when the run ends (the namespace's
  init is killed with the run's process group; ``--die-with-parent`` too);
* as uid/gid 65534 (nobody) inside, with every capability dropped.

Host identity: the user namespace maps the sandbox's uid to the worker's own uid,
so file permissions on the host are the worker's — which is why only the listed
paths are mounted at all.

Egress: :class:`Egress` is the hook for a policy that grants a run network access
to allow-listed hosts (the policy engine is issue #16's). Enforcing a host list
needs a filtering path out of the namespace that is not built yet, so a run that
asks for egress is refused (:class:`~somagent.tools.exceptions.SandboxUnavailable`)
rather than given the host's network.

``bwrap`` reports on a status descriptor (``--json-status-fd``): ``child-pid`` once
the namespaces are set up and the command started, ``exit-code`` when it ended;
:func:`read_status` parses it, so a sandbox that could not be set up is told
apart from a command that failed. bwrap exits with 128 + the signal number when the
command died of a signal.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from somagent.tools.exceptions import SandboxUnavailable

SYSTEM_DIRS: Final = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_ENTRIES: Final = (
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "mime.types",
    "os-release",
    "debian_version",
    "ssl",
    "ca-certificates",
)
SANDBOX_ID: Final = 65534  # nobody / nogroup
HOSTNAME: Final = "sandbox"


@dataclass(frozen=True)
class Egress:
    """Network a run may reach beyond its own loopback (see the module doc).

    ``hosts``: allow-listed host names or addresses a policy granted; empty: none.
    """

    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Isolation:
    """How a run is isolated (see the module doc).

    ``read_only``: extra host paths bound read-only at the same place (an
    interpreter's installation). ``hidden``: host paths that must not be visible
    even under a bound path (the platform's data and cache directories).
    ``bwrap``: the bubblewrap executable (default: found on ``PATH``).
    ``writable``: host directories an operator grants read-write to *every* run
    (``SOMAGENT_TOOL_SANDBOX_WRITABLE``; shared by all tenants, so for tests that
    observe a snippet's side effect or a single-tenant installation, never a
    multi-tenant default); bound after ``hidden``, so one may lie inside a hidden path.
    """

    read_only: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    egress: Egress = field(default_factory=Egress)
    bwrap: str | None = None
    writable: tuple[str, ...] = ()

    def executable(self) -> str:
        """The bwrap program; raises :class:`SandboxUnavailable` when there is none."""
        found = self.bwrap or shutil.which("bwrap")
        if not found or not os.access(found, os.X_OK):
            raise SandboxUnavailable(
                "the tool sandbox needs bubblewrap (`bwrap`, Debian package bubblewrap; "
                "infra/sysdeps.sh installs it) and it was not found on PATH"
            )
        return found


def interpreter_paths(python: str) -> tuple[str, tuple[str, ...]]:
    """The real interpreter behind ``python`` (not a virtual environment's link, whose
    directory a sandbox does not see) and the directories it needs to run ``-I -S``:
    its installation prefix (this process's ``sys.base_prefix`` for its own
    interpreter, else the directory above ``bin``)."""
    real = os.path.realpath(python)
    if real == os.path.realpath(sys.executable):
        roots = {os.path.realpath(sys.base_prefix), os.path.dirname(real)}
    else:
        roots = {os.path.dirname(os.path.dirname(real))}
    return real, tuple(sorted(roots))


def check(iso: Isolation, timeout_s: float = 10.0) -> None:
    """Set up the sandbox once around ``true``; raises :class:`SandboxUnavailable`
    with bwrap's own words when namespaces are not permitted here."""
    with tempfile.TemporaryDirectory(prefix="somagent-sandbox-check-") as workdir:
        argv = bwrap_command(iso, ["/bin/sh", "-c", "exit 0"], workdir)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"the isolated sandbox could not start: {exc}") from exc
    if done.returncode != 0:
        words = done.stderr.decode("utf-8", "replace").strip()[-300:]
        raise SandboxUnavailable(f"the isolated sandbox could not be set up: {words}")


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _system_view(iso: Isolation) -> tuple[list[str], list[str]]:
    """bwrap arguments for the read-only view, and the host paths it exposes."""
    args: list[str] = []
    exposed: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
            exposed.append(path)
    for name in ETC_ENTRIES:
        path = f"/etc/{name}"
        if os.path.lexists(path):
            args += ["--ro-bind-try", path, path]
            exposed.append(path)
    for path in iso.read_only:
        real = os.path.realpath(path)
        if not _under(real, exposed):
            args += ["--ro-bind", real, real]
            exposed.append(real)
    return args, exposed


def bwrap_command(
    iso: Isolation, argv: Sequence[str], workdir: str, status_fd: int | None = None
) -> list[str]:
    """``argv`` wrapped to run isolated in ``workdir`` (see the module doc); bwrap
    reports to ``status_fd`` when one is given."""
    if iso.egress.hosts:
        raise SandboxUnavailable(
            f"egress to {list(iso.egress.hosts)} was granted, but the sandbox cannot yet "
            "restrict a run's network to allow-listed hosts; refusing rather than giving "
            "it the host's network"
        )
    view, exposed = _system_view(iso)
    masks: list[str] = []
    for path in iso.hidden:
        real = os.path.realpath(path)
        if _under(real, exposed):
            masks += ["--tmpfs", real]
    return [
        iso.executable(),
        "--unshare-all",
        "--unshare-user",
        "--uid",
        str(SANDBOX_ID),
        "--gid",
        str(SANDBOX_ID),
        "--hostname",
        HOSTNAME,
        "--die-with-parent",
        "--cap-drop",
        "ALL",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        *view,  # after /tmp: a read-only path may lie under it
        "--bind",
        workdir,
        workdir,
        *masks,
        *[arg for path in iso.writable for arg in ("--bind", path, path)],
        "--chdir",
        workdir,
        *([] if status_fd is None else ["--json-status-fd", str(status_fd)]),
        "--",
        *argv,
    ]


@dataclass(frozen=True)
class Status:
    """What bwrap reported: whether the command started, and its exit code."""

    started: bool
    exit_code: int | None


def read_status(raw: bytes) -> Status:
    """Parse bwrap's status documents (one JSON object per line)."""
    started, code = False, None
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict):
            started = started or "child-pid" in doc
            if isinstance(doc.get("exit-code"), int):
                code = int(doc["exit-code"])
    return Status(started, code)


def as_returncode(bwrap_code: int) -> int:
    """bwrap's exit code in ``Popen.returncode`` terms: ``-N`` for death by signal N
    (bwrap reports 128 + N), else unchanged."""
    sig = bwrap_code - 128
    if 0 < sig < signal.NSIG:
        return -sig
    return bwrap_code
