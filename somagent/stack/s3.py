"""The Versity S3 gateway (``versitygw``): a real S3-compatible server on loopback.

Built once from the Go module proxy with ``go install
github.com/versity/versitygw/cmd/versitygw@v1.8.0`` into
``cache_path/versitygw-1.8.0/bin`` (about 8 minutes on 2 cores, then cached),
and run with its POSIX backend: every bucket is a directory under
``home/s3``. The root credentials are ``somagent`` and the secret in
``home/keys/s3.token`` (passed in the environment, never on the command line).
``SOMAGENT_S3_URL`` names an external server instead; ``SOMAGENT_ARTIFACT_STORE=postgres``
needs no S3 server at all (artifact blobs live in Postgres).
"""

from __future__ import annotations

import os
from pathlib import Path

from somagent.artifacts.blobs import ensure_bucket, s3_client, s3_credentials
from somagent.config import Settings
from somagent.stack import process
from somagent.stack.component import ComponentStatus
from somagent.stack.exceptions import Unreachable
from somagent.stack.gobuild import go_install

VERSION = "1.8.0"
MODULE = "github.com/versity/versitygw/cmd/versitygw"
BUILD_TIMEOUT_S = 1800


def binary_path(settings: Settings) -> Path:
    return settings.cache_path / f"versitygw-{VERSION}" / "bin" / "versitygw"


def build(settings: Settings) -> Path:
    """The cached ``versitygw`` binary, built with ``go install`` on first use."""
    return go_install(binary_path(settings), "s3", MODULE, VERSION, timeout_s=BUILD_TIMEOUT_S,
                      hint="or set SOMAGENT_ARTIFACT_STORE=postgres or SOMAGENT_S3_URL")


class S3Server:
    """The ``s3`` component of the stack (skipped with ``SOMAGENT_ARTIFACT_STORE=postgres``)."""

    name = "s3"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.s3_path
        self.pid_file = settings.home_dir / "run" / "s3.pid"
        self.log_file = settings.home_dir / "logs" / "s3.log"

    @property
    def external(self) -> bool:
        return self.settings.s3_url is not None

    @property
    def wanted(self) -> bool:
        return self.settings.artifact_store == "s3"

    def _ready(self) -> None:
        client = s3_client(self.settings, timeout_s=2.0)
        ensure_bucket(client, s3_credentials(self.settings)[2])

    def start(self) -> None:
        if not self.wanted:
            return
        if self.external:
            try:
                self._ready()
            except Exception as exc:
                raise Unreachable(f"s3: external server {self.settings.s3_endpoint} "
                                  f"(SOMAGENT_S3_URL) is unreachable: {exc}") from exc
            return
        pid = process.read_pid(self.pid_file)
        if pid is None:
            binary = build(self.settings)
            process.require_port_free(self.settings.s3_port, "s3")
            self.dir.mkdir(parents=True, exist_ok=True)
            access, secret, _ = s3_credentials(self.settings)
            env = {"PATH": os.environ.get("PATH", ""), "ROOT_ACCESS_KEY_ID": access,
                   "ROOT_SECRET_ACCESS_KEY": secret}
            argv = [str(binary), "--port", f"127.0.0.1:{self.settings.s3_port}", "--quiet",
                    "posix", str(self.dir)]
            pid = process.spawn(argv, pid_file=self.pid_file, log_file=self.log_file,
                                cwd=self.dir, env=env)

        def answers() -> bool:
            try:
                self._ready()
            except Exception:
                return False
            return True

        process.await_ready(pid, self.log_file, "s3", answers,
                            timeout_s=self.settings.startup_timeout_s,
                            what=f"s3 (versitygw) on 127.0.0.1:{self.settings.s3_port}")

    def stop(self) -> bool:
        return not self.external and process.stop_recorded(self.pid_file)

    def status(self) -> ComponentStatus:
        if not self.wanted:
            return ComponentStatus(self.name, "off", "artifact blobs in postgres", True)
        try:
            self._ready()
            healthy, detail = True, ""
        except Exception as exc:
            healthy, detail = False, str(exc)[:300]
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "local",
            address=f"{self.settings.s3_endpoint}/{s3_credentials(self.settings)[2]}",
            healthy=healthy,
            version=None if self.external else f"versitygw {VERSION}",
            pid=None if self.external else process.read_pid(self.pid_file),
            detail=detail,
        )


def main() -> None:
    """``python -m somagent.stack.s3``: build (or find) the cached versitygw binary and print
    its path; ``make test`` runs it first so no test waits for the build."""
    from somagent.config import load_settings

    settings = load_settings()
    if settings.artifact_store == "s3" and not settings.s3_url:
        print(build(settings))


if __name__ == "__main__":
    main()
