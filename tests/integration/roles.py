"""Platform roles as child processes of a test: ``somagent serve <role>`` with the
session stack's settings, SIGKILL-able, with its own log file.

One place for every package's tests (engine, jobs, billing, api, artifacts): a role
runs exactly as under ``somagent up``, only its consumer group may be the test's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from somagent.config import Settings
from somagent.kafka.admin import commit_offsets, end_offsets, partitions_of


class RoleProcess:
    """``somagent <argv…>`` as a child process in its own session (so a kill reaches
    only it); stdout and stderr go to ``log``."""

    def __init__(
        self, settings: Settings, home: Path, argv: Sequence[str], *,
        env: dict[str, str] | None = None, log_name: str | None = None,
    ) -> None:
        self.settings = settings
        self.home = home
        self.argv = list(argv)
        self.env = {**os.environ, **settings.to_env(), **(env or {})}
        self.log = home / (log_name or f"{argv[-1]}-{uuid.uuid4().hex[:6]}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RoleProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "somagent.cli", *self.argv], env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no offset commit, no goodbye to anyone."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def commit_at_end(settings: Settings, group: str, topics: Sequence[str]) -> None:
    """Commit ``group``'s positions at the log's end on every partition of ``topics``:
    records other tests appended are not consumed again, and a restarted member resumes
    from committed positions (never "latest", which could skip a record appended to a
    partition that had no commit yet)."""
    commit_offsets(settings, group, end_offsets(settings, partitions_of(settings, topics)))
