"""The ClickHouse engine behind one small interface: chDB in-process, or a server.

``ChdbClickHouse`` runs the real ClickHouse engine inside this process (``chdb``)
over a persistent directory; ``DriverClickHouse`` talks to a ClickHouse server
through ``clickhouse-driver`` (native protocol). The same DDL and queries serve
both; parameters use ClickHouse's server-side ``{name:Type}`` syntax.

Only one process may own a chDB directory at a time (see ARCHITECTURE.md:
embedded stores have exactly one owning process).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from somagent.config import Settings

DDL_DIR = Path(__file__).resolve().parents[2] / "infra" / "clickhouse"


class ClickHouse(Protocol):
    """What projectors, the ``sql`` tool and ``somagent sql`` need from ClickHouse."""

    backend: str
    database: str

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def insert_json_rows(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int: ...

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int: ...

    def version(self) -> str: ...

    def close(self) -> None: ...


class DdlTarget(Protocol):
    """What :func:`apply_ddl` needs: a default database and a way to run statements."""

    @property
    def database(self) -> str: ...

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...


def split_statements(text: str) -> list[str]:
    """Split a DDL file on ``;`` line ends, dropping ``--`` comment lines."""
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


# Every object the DDL creates, dependants first (the order drop_objects uses).
OBJECTS = (
    "agent_turns_after_revoke",
    "agent_version_ranking",
    "agent_version_sla",
    "agent_version_turns",
    "usage_minute_mv",
    "usage_by_minute",
    "turn_step_latency",
    "usage_minute",
    "events",
    "projector_positions",
)
_OBJECT_NAME = re.compile(r"\b(" + "|".join(OBJECTS) + r")\b")


def with_suffix(statement: str, suffix: str) -> str:
    """``statement`` with every DDL object name suffixed (``events`` → ``events_replay``)."""
    return _OBJECT_NAME.sub(lambda m: m.group(1) + suffix, statement) if suffix else statement


def apply_ddl(ch: DdlTarget, directory: Path = DDL_DIR, *, suffix: str = "") -> list[str]:
    """Run every statement of every ``*.sql`` in name order; statements are idempotent.

    ``suffix`` creates a parallel set of objects (``events_replay``, ...) for replay.
    """
    ch.execute(f"CREATE DATABASE IF NOT EXISTS {ch.database}")
    applied = []
    for path in sorted(directory.glob("*.sql")):
        for statement in split_statements(path.read_text()):
            ch.execute(with_suffix(statement, suffix))
        applied.append(path.name)
    return applied


def drop_objects(ch: ClickHouse, suffix: str) -> None:
    """Drop the suffixed objects (never the live ones: ``suffix`` must be non-empty)."""
    if not suffix:
        raise ValueError("drop_objects needs a suffix; live tables are never dropped")
    for name in OBJECTS:
        ch.execute(f"DROP TABLE IF EXISTS {name}{suffix}")


_PARAM = re.compile(r"\{(\w+):([^{}]+)\}")


def render_params(sql: str, params: Mapping[str, Any] | None) -> str:
    """``{name:Type}`` placeholders replaced by quoted literals (client side).

    For servers older than query parameters (ClickHouse 18.16), so the same SQL
    with the same parameters runs on chDB and on every server version.
    """
    if not params:
        return sql

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise KeyError(f"query parameter {name!r} has no value")
        return _literal(params[name])

    return _PARAM.sub(one, sql)


def _literal(value: Any) -> str:
    """A value as ClickHouse parses it inside an array/tuple literal."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    return _literal(str(value)) if not isinstance(value, (int, float)) else str(value)


def chdb_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Render ``{name: value}`` as the text chDB's ``{name:Type}`` parameters expect."""
    if not params:
        return None
    rendered: dict[str, str] = {}
    for key, value in params.items():
        rendered[key] = _literal(value) if isinstance(value, (list, tuple)) else str(value)
    return rendered


_CHDB_LOCK = threading.Lock()
_CHDB_SESSIONS: dict[Path, Any] = {}
_CHDB_PATH_LOCKS: dict[Path, threading.RLock] = {}


def _path_lock(path: Path) -> threading.RLock:
    with _CHDB_LOCK:
        return _CHDB_PATH_LOCKS.setdefault(path, threading.RLock())


def _open_session(path: Path, database: str) -> Any:
    """This process's session over ``path``, opened on first use (caller holds the path lock)."""
    from chdb import session

    sess = _CHDB_SESSIONS.get(path)
    if sess is None:
        sess = session.Session(str(path))  # type: ignore[no-untyped-call]
        # Unqualified names in the shared DDL resolve to this database.
        sess.query(f"CREATE DATABASE IF NOT EXISTS {database}")  # type: ignore[no-untyped-call]
        sess.query(f"USE {database}")  # type: ignore[no-untyped-call]
        _CHDB_SESSIONS[path] = sess
    return sess


class ChdbClickHouse:
    """The ClickHouse engine in-process over ``path``; one shared session per directory.

    Statements on one directory run one at a time (a per-directory lock). The
    session is looked up per statement, so after :func:`release_chdb` the next
    statement of any instance opens it again instead of using a closed one.
    """

    backend = "chdb"

    def __init__(self, path: Path, database: str) -> None:
        self.path = path.resolve()
        self.database = database
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = _path_lock(self.path)
        with self._lock:
            _open_session(self.path, database)

    def _run(self, sql: str, fmt: str, params: Mapping[str, Any] | None) -> Any:
        with self._lock:  # chDB raises ChdbError on a failed statement
            sess = _open_session(self.path, self.database)
            return sess.query(sql, fmt, params=chdb_params(params))

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, "CSV", params)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        raw = self._run(sql, "JSONEachRow", params).bytes()
        return [json.loads(line) for line in raw.splitlines() if line]

    def insert_json_rows(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        lines = [json.dumps(row, separators=(",", ":"), default=str) for row in rows]
        if not lines:
            return 0
        self.execute(f"INSERT INTO {table} FORMAT JSONEachRow\n" + "\n".join(lines))
        return len(lines)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        """Insert column-major ``data`` (one list per column) in one statement."""
        if not data or not data[0]:
            return 0
        body = json.dumps(data, separators=(",", ":"), default=str)
        names = ", ".join(columns)
        self.execute(f"INSERT INTO {table} ({names}) FORMAT JSONCompactColumns\n{body}")
        return len(data[0])

    def version(self) -> str:
        return str(self.query("SELECT version() AS v")[0]["v"])

    def close(self) -> None:
        """Sessions stay open for the life of the process (chDB allows one per process);
        :func:`release_chdb` closes one for good so another process may own the directory."""


def chdb_is_open(path: Path) -> bool:
    """Whether this process already holds a chDB session over ``path``."""
    with _CHDB_LOCK:
        return path.resolve() in _CHDB_SESSIONS


def release_chdb(path: Path) -> None:
    """Close this process's chDB session over ``path`` (before handing the directory on).

    Waits for a statement in progress on that directory; a later statement in
    this process opens the session again.
    """
    resolved = path.resolve()
    with _path_lock(resolved):
        sess = _CHDB_SESSIONS.pop(resolved, None)
        if sess is not None:
            sess.close()


class DriverClickHouse:
    """A ClickHouse server through ``clickhouse-driver`` (``clickhouse://host:9000/db``)."""

    backend = "server"

    def __init__(self, url: str) -> None:
        from clickhouse_driver import Client

        parts = urlsplit(url)
        self.database = (parts.path or "/default").strip("/") or "default"
        self._bootstrap = Client(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 9000,
            user=parts.username or "default",
            password=parts.password or "",
            connect_timeout=5,
            send_receive_timeout=30,
        )
        self._client = Client.from_url(url)
        self._lock = threading.Lock()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            bootstrap = sql.lstrip().upper().startswith("CREATE DATABASE")
            client = self._bootstrap if bootstrap else self._client
            client.execute(render_params(sql, params))

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            rows, columns = self._client.execute(render_params(sql, params), with_column_types=True)
        names = [c[0] for c in columns]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        with self._lock:
            self._client.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", list(rows))
        return len(rows)

    def insert_json_rows(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        batch = list(rows)
        if not batch:
            return 0
        columns = list(batch[0].keys())
        return self.insert_rows(table, columns, [[r[c] for c in columns] for r in batch])

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        """Insert column-major ``data`` (one list per column) in one statement."""
        if not data or not data[0]:
            return 0
        with self._lock:
            self._client.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES", list(data), columnar=True
            )
        return len(data[0])

    def version(self) -> str:
        """The server's version; answers before the database exists (it uses no database)."""
        with self._lock:
            rows = self._bootstrap.execute("SELECT version()")
        return str(rows[0][0])

    def close(self) -> None:
        self._client.disconnect()
        self._bootstrap.disconnect()


def connect(settings: Settings) -> ClickHouse:
    """This process's ClickHouse, as the service role (read-write).

    ``clickhouse://`` URLs use a server's native protocol (``DriverClickHouse``);
    ``http(s)://`` URLs a server's HTTP interface; with no URL, the analytics
    service that owns this installation's chDB directory, over its HTTP interface
    (``HttpClickHouse``). Only the analytics service opens chDB itself.
    """
    url = settings.clickhouse_url
    if url and not url.startswith(("http://", "https://")):
        return DriverClickHouse(url)
    from somagent.analytics.connect import analytics_client

    return analytics_client(settings)
