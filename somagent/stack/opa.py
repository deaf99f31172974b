"""The policy engine: Open Policy Agent (``opa run --server``) on loopback.

Built once from the Go module proxy (``go install
github.com/open-policy-agent/opa@v1.22.3``; minutes on 2 cores, then cached) into
``cache_path/opa-1.22.3/opa``, the way the Temporal CLI and versitygw are built: a
fresh clone's ``up``/``make test`` builds it (``python -m somagent.stack.opa``),
later runs reuse it. Concurrent builds are serialised by a lock file beside it.

The server listens on ``127.0.0.1:SOMAGENT_OPA_PORT`` and keeps its policies and
data in memory: after ``up`` (or an OPA restart) the policy role's sync, and the
bootstrap here, push the gate rules and every active policy again from Postgres.
Its decision log goes to the policy role (``SOMAGENT_POLICY_PORT``, ``/logs``), which
appends each decision to ``policy.decisions``. With ``SOMAGENT_OPA_URL`` nothing is
started and the server there is only checked (point its ``decision_logs`` service
at the policy role yourself).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from somagent.config import Settings
from somagent.stack import process
from somagent.stack.component import ComponentStatus
from somagent.stack.exceptions import Unreachable
from somagent.stack.gobuild import go_install

VERSION = "1.22.3"
MODULE = "github.com/open-policy-agent/opa"
BUILD_TIMEOUT_S = 2400.0


def binary_path(settings: Settings) -> Path:
    return settings.cache_path / f"opa-{VERSION}" / "opa"


def build(settings: Settings) -> Path:
    """The cached ``opa`` binary, built with ``go install`` when missing (once)."""
    return go_install(binary_path(settings), "opa", MODULE, VERSION, timeout_s=BUILD_TIMEOUT_S,
                      hint="install Go 1.24+ (https://go.dev/dl) to build OPA")


def config_text(settings: Settings) -> str:
    """OPA's configuration: decision logs to the policy role, every 1-2 s."""
    return (
        "services:\n"
        "  somagent:\n"
        f"    url: http://127.0.0.1:{settings.policy_port}\n"
        "decision_logs:\n"
        "  service: somagent\n"
        "  reporting:\n"
        "    min_delay_seconds: 1\n"
        "    max_delay_seconds: 2\n"
    )


def server_version(settings: Settings, timeout_s: float = 2.0) -> str:
    """The version the server answers: ``/health``, then the provenance of a read of
    ``data.somagent.none`` (undefined: small; ``GET /v1/data`` returns every policy)."""
    url = settings.opa_endpoint
    httpx.get(f"{url}/health", timeout=timeout_s).raise_for_status()
    body = httpx.get(f"{url}/v1/data/somagent/none?provenance=true", timeout=timeout_s).json()
    return str(body.get("provenance", {}).get("version", "?"))


class Opa:
    """The ``opa`` component of the stack."""

    name = "opa"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home_dir / "opa"
        self.pid_file = settings.home_dir / "run" / "opa.pid"
        self.log_file = settings.home_dir / "logs" / "opa.log"

    @property
    def external(self) -> bool:
        return self.settings.opa_url is not None

    def argv(self, binary: Path) -> list[str]:
        return [str(binary), "run", "--server", "--addr", f"127.0.0.1:{self.settings.opa_port}",
                "--config-file", str(self.dir / "config.yaml"), "--log-level", "error"]

    def start(self) -> None:
        if self.external:
            try:
                server_version(self.settings, timeout_s=5.0)
            except (httpx.HTTPError, ValueError) as exc:
                raise Unreachable(f"opa: external server SOMAGENT_OPA_URL="
                                  f"{self.settings.opa_endpoint}: {exc}") from exc
            return
        pid = process.read_pid(self.pid_file)
        if pid is None:
            process.require_port_free(self.settings.opa_port, "opa")
            binary = build(self.settings)
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / "config.yaml").write_text(config_text(self.settings))
            pid = process.spawn(self.argv(binary), pid_file=self.pid_file,
                                log_file=self.log_file, cwd=self.dir)

        def healthy() -> bool:  # /health only: a data read before the log filter is logged
            try:
                httpx.get(f"{self.settings.opa_endpoint}/health", timeout=2.0).raise_for_status()
            except httpx.HTTPError:
                return False
            return True

        process.await_ready(pid, self.log_file, "opa", healthy,
                            timeout_s=self.settings.startup_timeout_s,
                            what=f"opa on {self.settings.opa_endpoint}")

    def stop(self) -> bool:
        return not self.external and process.stop_recorded(self.pid_file)

    def status(self) -> ComponentStatus:
        try:
            version: str | None = server_version(self.settings)
            healthy, detail = True, ""
        except (httpx.HTTPError, ValueError) as exc:
            version, healthy, detail = None, False, str(exc)[:300]
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "local",
            address=self.settings.opa_endpoint,
            healthy=healthy,
            version=f"opa {version}" if version else None,
            pid=None if self.external else process.read_pid(self.pid_file),
            detail=detail,
        )


def main() -> None:
    """``python -m somagent.stack.opa``: build (or find) the cached binary; print its path.
    ``make test`` and ``make demo`` run it first, so no test waits for the build."""
    from somagent.config import load_settings

    settings = load_settings()
    if not settings.opa_url:
        print(build(settings))


if __name__ == "__main__":
    main()
