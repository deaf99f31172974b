"""The platform process: edge, Faust worker, billing and projectors in one process.

Embedded stores (chDB, Qdrant local mode) have exactly one owning process, so
``somagent up`` runs the application roles together as one detached process
(``somagent serve all``), tracked by pid file and ready once the edge's
``/readyz`` answers 200. ``down`` stops it first. While it runs, the embedded
engines are probed through its ``/readyz`` instead of being opened twice.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version as dist_version

from somagent.config import Settings
from somagent.serve.readiness import readiness
from somagent.stack import process
from somagent.stack.component import ComponentStatus
from somagent.wait import until


class Platform:
    """The ``platform`` process started by ``somagent up``."""

    name = "platform"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid_file = settings.home_dir / "run" / "platform.pid"
        self.log_file = settings.home_dir / "logs" / "platform.log"

    def pid(self) -> int | None:
        return process.read_pid(self.pid_file)

    def start(self) -> None:
        """Start ``somagent serve all`` (unless running) and wait for ``/readyz`` = 200."""
        pid = self.pid()
        if pid is None:
            process.require_port_free(self.settings.api_port, "platform (edge)")
            env = {**os.environ, **self.settings.to_env()}
            pid = process.spawn(
                [sys.executable, "-m", "somagent.cli", "serve", "all"],
                pid_file=self.pid_file,
                log_file=self.log_file,
                cwd=self.settings.home_dir,
                env=env,
            )
        started = pid

        def ready() -> bool:
            process.exited_early(started, self.log_file, "platform (somagent serve all)")
            body = readiness(self.settings, timeout_s=2.0)
            return body is not None and body["http_status"] == 200

        until(
            ready,
            timeout_s=self.settings.startup_timeout_s,
            what=f"the platform's edge at {self.settings.api_url}/readyz",
        )

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        process.stop_pid(pid, timeout_s=30.0)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> ComponentStatus:
        body = readiness(self.settings)
        healthy = body is not None and body["http_status"] == 200
        detail = "" if healthy else ("not running" if body is None else str(body.get("checks")))
        return ComponentStatus(
            name=self.name,
            mode="local",
            address=self.settings.api_url,
            healthy=healthy,
            version=f"somagent {dist_version('somagent')}" if body is not None else None,
            pid=self.pid(),
            detail=detail,
        )
