"""The Temporal server: ``temporal server start-dev`` from the ``temporal`` CLI.

The CLI is built once from the Go module proxy (``go install
github.com/temporalio/cli/cmd/temporal@v1.5.1``, Temporal Server 1.29.1; ~3 minutes
cold on 2 cores, a 240 MB binary) into ``cache_path/temporal-1.5.1/temporal``, the
way the Kafka jars are fetched: a fresh clone's ``up``/``make test`` builds it, later
runs reuse it. Concurrent builds are serialised by a lock file beside it.

The dev server runs headless (no web UI) on loopback: the frontend on
``SOMAGENT_TEMPORAL_PORT``, state in the SQLite file ``home/temporal/temporal.db``
(kept between runs, so a restarted server continues its workflows). With
``SOMAGENT_TEMPORAL_ADDRESS`` set, nothing is started and the cluster there is only
checked. ``status`` reports the version the server itself answers (GetSystemInfo).
"""

from __future__ import annotations

from pathlib import Path

from somagent.config import Settings
from somagent.jobs.exceptions import JobsUnavailable
from somagent.jobs.temporal import server_version_blocking
from somagent.stack import process
from somagent.stack.component import ComponentStatus
from somagent.stack.exceptions import Unreachable
from somagent.stack.gobuild import go_install

CLI_VERSION = "1.5.1"
CLI_MODULE = "github.com/temporalio/cli/cmd/temporal"
BUILD_TIMEOUT_S = 1800.0


def cli_path(settings: Settings) -> Path:
    return settings.cache_path / f"temporal-{CLI_VERSION}" / "temporal"


def build_cli(settings: Settings) -> Path:
    """The cached ``temporal`` binary, built with ``go install`` when missing (once)."""
    return go_install(cli_path(settings), "temporal", CLI_MODULE, CLI_VERSION,
                      timeout_s=BUILD_TIMEOUT_S,
                      hint="install Go 1.23+ (https://go.dev/dl) to build the CLI")


class Temporal:
    """The ``temporal`` component of the stack."""

    name = "temporal"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home_dir / "temporal"
        self.db_file = self.dir / "temporal.db"
        self.pid_file = settings.home_dir / "run" / "temporal.pid"
        self.log_file = self.dir / "temporal.log"

    @property
    def external(self) -> bool:
        return self.settings.temporal_address is not None

    def argv(self, binary: Path) -> list[str]:
        return [
            str(binary), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1",
            "--port", str(self.settings.temporal_port),
            "--db-filename", str(self.db_file),
            "--namespace", self.settings.temporal_namespace,
            "--log-level", "warn",
        ]

    def start(self) -> None:
        if self.external:
            self._check_external()
            return
        pid = process.read_pid(self.pid_file)
        if pid is None:
            process.require_port_free(self.settings.temporal_port, "temporal")
            binary = build_cli(self.settings)
            self.dir.mkdir(parents=True, exist_ok=True)
            pid = process.spawn(self.argv(binary), pid_file=self.pid_file,
                                log_file=self.log_file, cwd=self.dir)
        process.await_ready(
            pid, self.log_file, "temporal",
            lambda: bool(server_version_blocking(self.settings, timeout_s=2.0)),
            timeout_s=self.settings.startup_timeout_s,
            what=f"temporal on {self.settings.temporal_target}",
        )

    def _check_external(self) -> None:
        try:
            server_version_blocking(self.settings, timeout_s=5.0)
        except JobsUnavailable as exc:
            raise Unreachable(f"temporal: external server SOMAGENT_TEMPORAL_ADDRESS="
                              f"{self.settings.temporal_target}: {exc}") from exc

    def stop(self) -> bool:
        return not self.external and process.stop_recorded(self.pid_file, timeout_s=30.0)

    def status(self) -> ComponentStatus:
        try:
            version: str | None = server_version_blocking(self.settings, timeout_s=2.0)
            healthy, detail = True, ""
        except JobsUnavailable as exc:
            version, healthy, detail = None, False, str(exc)
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "local",
            address=self.settings.temporal_target,
            healthy=healthy,
            version=f"server {version} (cli {CLI_VERSION})" if version and not self.external
            else version,
            pid=None if self.external else process.read_pid(self.pid_file),
            detail=detail,
        )



def main() -> None:
    """``python -m somagent.stack.temporal``: build (or find) the cached CLI; print its path.

    ``make test`` runs it before the suite, so a cold build (minutes) does not count
    against the first integration test's time limit.
    """
    from somagent.config import load_settings

    print(build_cli(load_settings()))


if __name__ == "__main__":
    main()
