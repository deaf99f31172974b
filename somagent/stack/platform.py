"""The platform process: edge, Faust worker and projectors in one process.

Embedded stores (chDB, Qdrant local mode) have exactly one owning process, so
``somagent up`` runs the application parts together as one detached process
(``somagent serve all``) tracked by pid file, and ``down`` stops it first.
"""

from __future__ import annotations

from somagent.config import Settings
from somagent.stack import process


class Platform:
    """The ``platform`` process started by ``somagent up`` (when the engines exist)."""

    name = "platform"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid_file = settings.home_dir / "run" / "platform.pid"
        self.log_file = settings.home_dir / "logs" / "platform.log"

    def pid(self) -> int | None:
        return process.read_pid(self.pid_file)

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        process.stop_pid(pid, timeout_s=30.0)
        self.pid_file.unlink(missing_ok=True)
        return True
