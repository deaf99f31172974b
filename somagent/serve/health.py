"""Every role process answers ``GET /healthz`` and ``GET /metrics`` on its own health port.

The supervisor gives each role instance a loopback port in ``SOMAGENT_HEALTH_PORT``
(several edge processes share the public port, so the supervisor needs one address
per instance). :class:`HealthServer` serves, from a daemon thread of the role:

* ``/healthz`` → JSON :class:`HealthReport` (200 when healthy, 503 when not): the
  role, instance, pid, uptime, the role's own verdict with a reason, and its consumer
  lag where it consumes (records behind the log end, per topic);
* ``/metrics`` → this process's Prometheus registry (prometheus_client's default one,
  where :mod:`somagent.telemetry.metrics` lives) followed by any registry a role adds
  with :meth:`HealthServer.add_registry` (the edge's and the Memory Gateway's own);
  one health port is one process, so series from different processes never mix.

Guarantees: the server never blocks the role's event loop (its own thread); a check
that raises makes the report unhealthy with the exception named, never a 500; lag is
recomputed by a thread of its own every ``lag_interval_s`` (it costs Kafka round
trips), so a slow or stuck lag source never delays ``/healthz``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

HEALTH_PORT_ENV = "SOMAGENT_HEALTH_PORT"
# Loopback unless a container must be scraped from outside (docker-compose sets 0.0.0.0).
HEALTH_HOST_ENV = "SOMAGENT_HEALTH_HOST"
ROLE_ENV = "SOMAGENT_ROLE"
INSTANCE_ENV = "SOMAGENT_ROLE_INSTANCE"

# A check returns (healthy, detail); a lag source returns {topic: records behind}.
Check = Callable[[], tuple[bool, str]]
LagSource = Callable[[], dict[str, int]]


@dataclass
class HealthReport:
    """What ``/healthz`` answers."""

    role: str
    instance: int
    pid: int
    uptime_s: float
    healthy: bool
    detail: str
    lag: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HealthServer:
    """The health endpoint of one role process (see the module doc)."""

    def __init__(
        self,
        role: str,
        *,
        instance: int = 0,
        port: int = 0,
        lag_interval_s: float = 5.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.role = role
        self.instance = instance
        self.started = time.monotonic()
        self._checks: list[tuple[str, Check]] = []
        self._lag_sources: list[LagSource] = []
        self._registries: list[Any] = []
        self._lag: dict[str, int] = {}
        self._lag_at = 0.0
        self._lag_error = ""
        self._lag_interval_s = lag_interval_s
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"health-{role}", daemon=True
        )

    @classmethod
    def from_env(cls, role: str) -> HealthServer:
        """A server for ``role`` on ``SOMAGENT_HEALTH_PORT`` (0: any free port)."""
        return cls(
            os.environ.get(ROLE_ENV, role),
            instance=int(os.environ.get(INSTANCE_ENV, "0")),
            port=int(os.environ.get(HEALTH_PORT_ENV, "0")),
            host=os.environ.get(HEALTH_HOST_ENV, "127.0.0.1"),
        )

    def add_check(self, name: str, check: Check) -> None:
        """``check`` decides health; every check must pass for the role to be healthy."""
        self._checks.append((name, check))

    def add_registry(self, registry: Any) -> None:
        """Serve ``registry`` (a prometheus_client ``CollectorRegistry``) on ``/metrics``
        too; its names must not repeat the default registry's."""
        self._registries.append(registry)

    def exposition(self) -> bytes:
        """The ``/metrics`` body: the default registry, then the added ones."""
        from prometheus_client import REGISTRY, generate_latest

        return b"".join(generate_latest(r) for r in [REGISTRY, *self._registries])

    def add_lag(self, source: LagSource) -> None:
        self._lag_sources.append(source)

    def start(self) -> HealthServer:
        self._thread.start()
        if self._lag_sources:
            threading.Thread(target=self._refresh_lag, name=f"lag-{self.role}", daemon=True).start()
        return self

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()

    def _refresh_lag(self) -> None:
        while not self._closed.is_set():
            merged: dict[str, int] = {}
            error = ""
            for source in self._lag_sources:
                try:
                    for topic, behind in source().items():
                        merged[topic] = merged.get(topic, 0) + behind
                except Exception as exc:
                    error = f"lag unknown: {type(exc).__name__}: {exc}"
            with self._lock:
                self._lag, self._lag_error, self._lag_at = merged, error, time.monotonic()
            self._closed.wait(self._lag_interval_s)

    def lag(self) -> dict[str, int]:
        """Records behind the log end per topic, as last computed (``{}`` before that)."""
        with self._lock:
            return dict(self._lag)

    def report(self) -> HealthReport:
        healthy, details = True, []
        for name, check in self._checks:
            try:
                ok, detail = check()
            except Exception as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            healthy &= ok
            if detail:
                details.append(f"{name}: {detail}")
        lag = self.lag()
        with self._lock:
            if self._lag_error:
                details.append(self._lag_error)
        return HealthReport(
            role=self.role,
            instance=self.instance,
            pid=os.getpid(),
            uptime_s=round(time.monotonic() - self.started, 3),
            healthy=healthy,
            detail="; ".join(details),
            lag=lag,
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/healthz":
                    report = server.report()
                    body = json.dumps(report.as_dict()).encode()
                    self._send(200 if report.healthy else 503, "application/json", body)
                elif self.path.split("?")[0] == "/metrics":
                    from prometheus_client import CONTENT_TYPE_LATEST

                    self._send(200, CONTENT_TYPE_LATEST, server.exposition())
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the prober gave up waiting; nothing to tell it

            def log_message(self, format: str, *args: Any) -> None:
                return  # the supervisor polls every second; keep role logs readable

        return Handler


class LoopHeartbeat:
    """Proves an asyncio event loop keeps turning (a role's work happens on it).

    :meth:`run` (a task on the watched loop) stamps the time every ``interval_s``;
    :meth:`check` fails while the loop has not started or when the last stamp is
    older than ``stall_s`` (something blocks the loop: a CPU-bound step, a blocking
    call), which the supervisor turns into a restart after its grace period.
    """

    def __init__(self, *, interval_s: float = 0.5, stall_s: float = 15.0) -> None:
        self.interval_s = interval_s
        self.stall_s = stall_s
        self.stamp: float | None = None

    async def run(self) -> None:
        import asyncio

        while True:
            self.stamp = time.monotonic()
            await asyncio.sleep(self.interval_s)

    def check(self) -> tuple[bool, str]:
        if self.stamp is None:
            return False, "event loop not started yet"
        age_s = time.monotonic() - self.stamp
        if age_s > self.stall_s:
            return False, f"event loop blocked for {age_s:.1f}s"
        return True, ""


def http_check(url: str, *, timeout_s: float = 2.0) -> Check:
    """A check that GETs ``url`` (this process's own serving port) and wants a 2xx:
    it proves the whole serving path, event loop included, answers."""
    import urllib.error
    import urllib.request

    def check() -> tuple[bool, str]:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
        except OSError as exc:
            return False, f"{url} does not answer: {exc}"
        return (200 <= status < 300), ("" if 200 <= status < 300 else f"{url} answered {status}")

    return check


class StallCheck:
    """Unhealthy when records wait for the role and it has read none for ``stall_s``.

    ``waiting`` gives the records between what the role has read (or committed) and
    the log end; ``progress`` a number that grows whenever the role reads. A role
    whose client wedged (seen once after a broker restart under load) keeps its
    event loop turning and would otherwise look healthy forever; this check makes
    the supervisor restart it. ``waiting`` is only asked every ``every_s`` (it costs
    a Kafka round trip) and errors count as "unknown", never as stuck.
    """

    def __init__(
        self,
        waiting: Callable[[], int],
        progress: Callable[[], int],
        *,
        stall_s: float,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._waiting = waiting
        self._progress = progress
        self.stall_s = stall_s
        self.every_s = every_s
        self._clock = clock
        self._last_progress = -1
        self._since = clock()
        self._asked_at = 0.0
        self._behind = 0

    def __call__(self) -> tuple[bool, str]:
        now = self._clock()
        if now - self._asked_at >= self.every_s:
            self._asked_at = now
            try:
                self._behind = self._waiting()
            except Exception:
                self._behind = 0  # unknown: never a reason to restart
        seen = self._progress()
        if seen != self._last_progress or self._behind == 0:
            self._last_progress, self._since = seen, now
            return True, ""
        stalled_s = now - self._since
        if stalled_s >= self.stall_s:
            return False, f"{self._behind} records wait and none was read for {stalled_s:.0f}s"
        return True, ""
