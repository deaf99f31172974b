"""The platform's processes as one stack component: the supervisor and its roles.

``somagent up`` starts ``somagent serve platform`` detached (pid file
``run/platform.pid``); the supervisor starts every role as its own process
(:mod:`somagent.serve.supervisor`) and writes their state to ``run/platform.json``.
``up`` returns once every role reports healthy and the edge's ``/readyz`` answers
200; ``down`` stops the supervisor, which stops its roles; ``status`` shows one row
per role instance (pid, restarts, health, lag).

The servers-only stack (``up --servers-only``, and the test suite's stack) runs the
supervisor too, with the owners of the embedded engines only: the analytics
service (the local ClickHouse server) and the Memory Gateway (the vector store).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from importlib.metadata import version as dist_version
from typing import Any

from somagent.config import Settings
from somagent.serve.readiness import readiness
from somagent.serve.supervisor import state_path
from somagent.stack import process
from somagent.stack.component import ComponentStatus
from somagent.stack.exceptions import StackError
from somagent.wait import until


@dataclass(frozen=True)
class Layout:
    """How many processes of the scalable roles; ``platform=False`` is servers-only."""

    workers: int | None = None
    edges: int = 1
    platform: bool = True
    jobs: int = 1

    def argv(self) -> list[str]:
        out = ["--edges", str(self.edges), "--jobs", str(self.jobs)]
        if self.workers is not None:
            out += ["--workers", str(self.workers)]
        return out + ([] if self.platform else ["--servers-only"])


class Platform:
    """The ``platform`` component: ``somagent serve platform`` and the roles it supervises."""

    name = "platform"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid_file = settings.home_dir / "run" / "platform.pid"
        self.log_file = settings.home_dir / "logs" / "platform.log"

    def pid(self) -> int | None:
        return process.read_pid(self.pid_file)

    def state(self) -> dict[str, Any] | None:
        """The supervisor's last written state, or None when it is not running."""
        pid = self.pid()
        if pid is None:
            return None
        try:
            body: dict[str, Any] = json.loads(state_path(self.settings).read_text())
        except (OSError, ValueError):
            return None
        return body if body.get("supervisor_pid") == pid else None

    def running_layout(self) -> Layout | None:
        state = self.state()
        if state is None:
            return None
        raw = state.get("layout") or {}
        return Layout(raw.get("workers"), int(raw.get("edges", 1)), bool(raw.get("platform", True)),
                      int(raw.get("jobs", 1)))

    def start(self, layout: Layout) -> None:
        """Start the supervisor with ``layout`` (restarting one that runs another layout)
        and wait until every role is healthy (and the edge ready, with the platform)."""
        running = self.running_layout()
        if running is not None and running != layout:
            self.stop()
        if self.pid() is None:
            if layout.platform:
                process.require_port_free(self.settings.api_port, "platform (edge)")
            process.require_port_free(self.settings.memory_port, "memory gateway")
            if not self.settings.clickhouse_url:
                process.require_port_free(
                    self.settings.clickhouse_http_port, "analytics (ClickHouse HTTP)"
                )
            state_path(self.settings).unlink(missing_ok=True)
            process.spawn(
                [sys.executable, "-m", "somagent.cli", "serve", "platform", *layout.argv()],
                pid_file=self.pid_file,
                log_file=self.log_file,
                cwd=self.settings.home_dir,
                env={**os.environ, **self.settings.to_env()},
            )
        self.wait_healthy(layout)

    def wait_healthy(self, layout: Layout) -> None:
        started = self.pid()

        def ready() -> bool:
            if started is not None:
                process.exited_early(started, self.log_file, "platform supervisor")
            state = self.state()
            if state is None or not state["instances"]:
                return False
            if not all(row["healthy"] for row in state["instances"]):
                return False
            if not layout.platform:
                return True
            body = readiness(self.settings, timeout_s=2.0)
            return body is not None and body["http_status"] == 200

        try:
            until(ready, timeout_s=self.settings.startup_timeout_s,
                  what="every platform role to report healthy")
        except StackError as exc:
            raise StackError(f"{exc}; {self._not_ready()}") from exc

    def _not_ready(self) -> str:
        state = self.state() or {"instances": []}
        sick = [r for r in state["instances"] if not r["healthy"]]
        if not sick:
            return f"the edge's {self.settings.api_url}/readyz is not 200"
        parts = []
        for row in sick:
            log_file = self.settings.home_dir / "logs" / f"{row['name']}.log"
            parts.append(f"{row['name']} is {row['state']}: {row['detail'] or '-'} "
                         f"(restarts {row['restarts']}; log {log_file})")
        return "; ".join(parts)

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        process.stop_pid(pid, timeout_s=90.0)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> list[ComponentStatus]:
        """The supervisor's row, then one row per role instance."""
        state = self.state()
        if state is None:
            return [ComponentStatus(name=self.name, mode="local", address="-", healthy=False,
                                    detail="not running")]
        rows = [ComponentStatus(name=self.name, mode="supervisor", address=str(self.log_file),
                                healthy=True, version=f"somagent {dist_version('somagent')}",
                                pid=self.pid())]
        for row in state["instances"]:
            rows.append(
                ComponentStatus(
                    name=row["name"], mode="role", address=row["health_url"],
                    healthy=bool(row["healthy"]), pid=row["pid"],
                    detail=row["detail"] or row["last_restart_reason"] or row["state"],
                    restarts=int(row["restarts"]), lag=dict(row["lag"]),
                )
            )
        return rows
