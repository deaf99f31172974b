"""The supervisor ``somagent up`` starts: one process that runs every role as a child.

``somagent serve platform`` runs the :func:`~somagent.serve.roles.plan` as child
processes (``somagent serve <role>``) and keeps them running:

* **Restart on exit**: a child that exits (crash, SIGKILL, OOM) is started again
  after a back-off of 1 s doubling to 30 s; the back-off resets once the child has
  been healthy for ``stable_s``. Every restart is counted and its exit code kept.
* **Restart when stuck**: each child answers ``/healthz`` on its own loopback port
  (:mod:`somagent.serve.health`). A child that stays unhealthy or unreachable for
  ``unhealthy_grace_s`` (``startup_grace_s`` before it was first healthy) is
  stopped (SIGTERM, then SIGKILL) and restarted, with the reason recorded.
* **State for operators**: ``$SOMAGENT_HOME/run/platform.json`` is rewritten
  atomically every tick: per instance pid, state, restarts, last exit, health
  detail and consumer lag. ``somagent status`` reads it.
* **No orphans**: children get ``PR_SET_PDEATHSIG`` = SIGTERM, so they stop even
  when the supervisor is killed with SIGKILL; on SIGTERM/SIGINT the supervisor
  stops them in reverse start order (the edge first, the engine owners last).

State recovery is the roles' own: a restarted worker resumes turns from its
changelog-backed table, projectors from their stored positions, billing from its
state records (see each role's module).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from somagent import logs
from somagent.config import Settings
from somagent.serve.health import HEALTH_PORT_ENV, INSTANCE_ENV, ROLE_ENV
from somagent.serve.roles import ANALYTICS, EDGE, MEMORY, Instance

log = logging.getLogger(__name__)

STATE_FILE = "platform.json"
_PR_SET_PDEATHSIG = 1


def state_path(settings: Settings) -> Path:
    return settings.home_dir / "run" / STATE_FILE


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """One supervised instance and what is known about it."""

    instance: Instance
    health_port: int
    proc: subprocess.Popen[bytes] | None = None
    state: str = "pending"  # pending | starting | healthy | unhealthy | backoff | stopped
    detail: str = ""
    restarts: int = 0
    last_exit: int | None = None
    last_restart_reason: str = ""
    lag: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0  # wall clock, for operators
    spawned_mono: float = 0.0
    healthy_since: float | None = None
    unhealthy_since: float | None = None
    ever_healthy: bool = False
    next_start: float = 0.0
    backoff_s: float = 1.0

    def row(self) -> dict[str, Any]:
        return {
            "name": self.instance.name,
            "role": self.instance.role,
            "index": self.instance.index,
            "pid": self.proc.pid if self.proc is not None and self.proc.poll() is None else None,
            "state": self.state,
            "healthy": self.state == "healthy",
            "detail": self.detail,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "last_restart_reason": self.last_restart_reason,
            "lag": self.lag,
            "started_at": self.started_at,
            "health_url": f"http://127.0.0.1:{self.health_port}/healthz",
        }


@dataclass(frozen=True)
class Policy:
    """Timing of supervision, in seconds."""

    tick_s: float = 1.0
    health_timeout_s: float = 2.0
    startup_grace_s: float = 180.0
    unhealthy_grace_s: float = 60.0
    stable_s: float = 60.0
    max_backoff_s: float = 30.0
    stop_timeout_s: float = 30.0


# Stop tiers, first to last: the edge stops taking requests, then the engines, then
# the Memory Gateway, then the analytics service (the ClickHouse every writer needs).
def _stop_tier(role: str) -> int:
    return {EDGE: 0, MEMORY: 2, ANALYTICS: 3}.get(role, 1)


def somagent_argv(instance: Instance) -> list[str]:
    """How a role instance is started: ``python -m somagent.cli serve <role> ...``."""
    return [sys.executable, "-m", "somagent.cli", *instance.command]


class Supervisor:
    """Runs ``instances`` as children until :meth:`stop` (see the module doc).

    ``argv_for`` maps an instance to its command line (default :func:`somagent_argv`).
    """

    def __init__(
        self,
        settings: Settings,
        instances: list[Instance],
        policy: Policy | None = None,
        *,
        argv_for: Callable[[Instance], list[str]] = somagent_argv,
        layout: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.layout = layout or {}
        self.policy = policy or Policy()
        self._argv_for = argv_for
        self.children = [Child(i, _free_port()) for i in instances]
        self.stopping = threading.Event()
        self._http = httpx.Client(timeout=self.policy.health_timeout_s)
        self._log_dir = settings.home_dir / "logs"
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._env = {**os.environ, **settings.to_env()}

    # -- children -----------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        env = {
            **self._env,
            HEALTH_PORT_ENV: str(child.health_port),
            ROLE_ENV: child.instance.role,
            INSTANCE_ENV: str(child.instance.index),
        }
        log_file = self._log_dir / f"{child.instance.name}.log"
        with open(log_file, "ab") as out:
            child.proc = subprocess.Popen(
                self._argv_for(child.instance),
                cwd=self.settings.home_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        child.state, child.detail = "starting", ""
        child.started_at, child.spawned_mono = time.time(), time.monotonic()
        child.healthy_since = child.unhealthy_since = None
        child.ever_healthy = False
        log.info("started %s (pid %d)", child.instance.name, child.proc.pid)

    def _terminate(self, child: Child, reason: str) -> None:
        proc = child.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self.policy.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing", child.instance.name,
                            self.policy.stop_timeout_s)
                proc.kill()
                proc.wait(10)
        child.last_exit = proc.returncode
        child.proc = None
        child.detail = reason

    def _schedule_restart(self, child: Child, reason: str) -> None:
        now = time.monotonic()
        child.restarts += 1
        child.state, child.detail, child.last_restart_reason = "backoff", reason, reason
        child.next_start = now + child.backoff_s
        log.warning("%s: %s; restarting in %.0fs (restart #%d)", child.instance.name, reason,
                    child.backoff_s, child.restarts)
        child.backoff_s = min(child.backoff_s * 2, self.policy.max_backoff_s)

    def _probe(self, child: Child) -> tuple[bool, str, dict[str, int]]:
        try:
            response = self._http.get(f"http://127.0.0.1:{child.health_port}/healthz")
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return False, f"health endpoint not answering ({type(exc).__name__})", {}
        return bool(body.get("healthy")), str(body.get("detail", "")), dict(body.get("lag", {}))

    def _tend(self, child: Child, probe: tuple[bool, str, dict[str, int]] | None) -> None:
        now = time.monotonic()
        if child.proc is None:
            if now >= child.next_start and not self.stopping.is_set():
                self._spawn(child)
            return
        code = child.proc.poll()
        if code is not None:
            child.last_exit, child.proc = code, None
            self._schedule_restart(child, f"exited with code {code}")
            return
        if probe is None:
            return  # spawned during this tick: probed from the next one on
        healthy, detail, lag = probe
        child.lag = lag
        if healthy:
            child.state, child.detail, child.unhealthy_since = "healthy", detail, None
            child.ever_healthy = True
            child.healthy_since = child.healthy_since or now
            if now - child.healthy_since >= self.policy.stable_s:
                child.backoff_s = 1.0
            return
        child.healthy_since = None
        child.state = "unhealthy" if child.ever_healthy else "starting"
        child.detail = detail
        child.unhealthy_since = child.unhealthy_since or now
        grace = self.policy.unhealthy_grace_s if child.ever_healthy else self.policy.startup_grace_s
        since = child.unhealthy_since if child.ever_healthy else child.spawned_mono
        if now - since >= grace:
            reason = f"unhealthy for {now - since:.0f}s: {detail}"
            self._terminate(child, reason)
            self._schedule_restart(child, reason)

    # -- state ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "supervisor_pid": os.getpid(),
            "updated_at": time.time(),
            "stopping": self.stopping.is_set(),
            "layout": self.layout,
            "instances": [c.row() for c in self.children],
        }

    def _write_state(self) -> None:
        path = state_path(self.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot(), indent=1))
        tmp.replace(path)

    # -- lifecycle --------------------------------------------------------------------

    def run(self) -> None:
        """Supervise until :meth:`stop` is called (or SIGTERM/SIGINT in :func:`run_supervisor`)."""
        pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health-probe")
        try:
            while not self.stopping.is_set():
                # Probe every live child at once, so one hung child does not delay the rest.
                live = [c for c in self.children if c.proc is not None]
                probes = dict(zip(map(id, live), pool.map(self._probe, live), strict=True))
                for child in self.children:
                    if self.stopping.is_set():
                        break
                    self._tend(child, probes.get(id(child)))
                self._write_state()
                self.stopping.wait(self.policy.tick_s)
        finally:
            pool.shutdown(wait=False)
            self._stop_all()
            self._write_state()
            self._http.close()

    def stop(self) -> None:
        self.stopping.set()

    def _stop_all(self) -> None:
        for tier in sorted({_stop_tier(c.instance.role) for c in self.children}):
            group = [c for c in self.children if _stop_tier(c.instance.role) == tier]
            for child in group:  # signal the whole tier, then wait for each
                if child.proc is not None and child.proc.poll() is None:
                    child.proc.terminate()
            for child in group:
                self._terminate(child, "stopped")
                child.state = "stopped"


def run_supervisor(
    settings: Settings, instances: list[Instance], layout: dict[str, Any] | None = None
) -> None:
    """``somagent serve platform``: supervise ``instances`` until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(message)s")
    logs.configure()  # the repeat filter; httpx quiet (one health probe per role per tick)
    supervisor = Supervisor(settings, instances, layout=layout)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: supervisor.stop())
    supervisor.run()
