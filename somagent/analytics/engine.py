"""The embedded ClickHouse engine (chDB) over one directory, as a pool of sessions.

chDB lets one process own a data directory; inside it, any number of
connections may be open on that directory, each with its own session (current
database, settings) and queries on different connections run in parallel. This
module keeps idle connections per :class:`~somagent.analytics.sessions.SessionSpec`:
a connection is configured once for one spec and only reused for that spec, so
a tenant's filters and readonly=1 can never leak into another request.

Guarantees: every engine error surfaces as :class:`ClickHouseError` with the
engine's code and name; a connection on which anything failed, or whose stream
was abandoned, is closed, never pooled (chDB 4.4 prepends the partial output of
a failed ``query`` to the next result on the same connection); the process
keeps one anchor connection open for its lifetime (the engine shuts down with
the last one).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chdb.state import sqlitelike

from somagent.analytics.errors import error, from_engine_text
from somagent.analytics.exceptions import ClickHouseError, EngineUnavailable
from somagent.analytics.sessions import SessionSpec, setup_statements

MAX_IDLE_PER_SPEC: Final = 8
MAX_SPECS: Final = 256

Connection = sqlitelike.Connection


@dataclass
class Stats:
    """What the engine reports about one statement (X-ClickHouse-Summary)."""

    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    elapsed_ns: int = 0

    @classmethod
    def of(cls, result: Any) -> Stats:
        return cls(
            int(result.rows_read()),
            int(result.bytes_read()),
            int(result.rows_written()),
            int(result.bytes_written()),
            int(float(result.elapsed()) * 1e9),
        )


class Engine:
    """chDB over ``path`` with ``database`` as the default database."""

    def __init__(self, path: Path, database: str) -> None:
        self.path = path.resolve()
        self.database = database
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._idle: OrderedDict[SessionSpec, list[Connection]] = OrderedDict()
        self.error_names: dict[int, str] = {}
        self._anchor = self._connect()
        self.run(self._anchor, f"CREATE DATABASE IF NOT EXISTS `{database}`")
        rows = self.text(self._anchor, "SELECT version(), timezone()").split("\t")
        self.version, self.timezone = rows[0], rows[1]
        listing = self.text(
            self._anchor,
            "SELECT number, errorCodeToName(number) FROM numbers(2000) "
            "WHERE errorCodeToName(number) != ''",
        )
        self.error_names = {
            int(code): name for code, name in (ln.split("\t") for ln in listing.splitlines())
        }
        self.table_functions = frozenset(
            self.text(self._anchor, "SELECT lower(name) FROM system.table_functions").splitlines()
        )
        self.tenant_tables: frozenset[str] = frozenset()

    def _connect(self) -> Connection:
        try:
            return sqlitelike.connect(f"file:{self.path}")
        except RuntimeError as exc:
            # chDB's own text ("Error initializing EmbeddedServer") says nothing useful;
            # the cause it prints on stderr is almost always a second owner.
            raise EngineUnavailable(
                f"cannot open the chDB directory {self.path}: another process owns it "
                "(only one process may own a chDB directory), or it is not usable"
            ) from exc

    # -- statements ------------------------------------------------------------

    def error(self, exc: BaseException) -> ClickHouseError:
        """``exc`` from chDB as a :class:`ClickHouseError`."""
        return from_engine_text(str(exc), self.error_names)

    def run(
        self,
        conn: Connection,
        sql: str,
        fmt: str = "TabSeparated",
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """The engine's result of one statement (buffered); raises ClickHouseError."""
        try:
            return conn.query(sql, fmt, params=dict(params or {}))
        except RuntimeError as exc:
            raise self.error(exc) from None

    def text(self, conn: Connection, sql: str, params: Mapping[str, str] | None = None) -> str:
        """The TabSeparated output of ``sql`` without its final line break."""
        return bytes(self.run(conn, sql, "TabSeparated", params).bytes()).decode().rstrip("\n")

    # -- the pool --------------------------------------------------------------

    def checkout(self, spec: SessionSpec) -> Connection:
        """An idle connection configured for ``spec``, or a new one."""
        with self._lock:
            idle = self._idle.get(spec)
            if idle:
                self._idle.move_to_end(spec)
                return idle.pop()
        try:
            conn = self._connect()
        except EngineUnavailable as exc:
            raise error("CANNOT_OPEN_FILE", str(exc)) from exc
        try:
            for statement in setup_statements(spec, self.tenant_tables):
                self.run(conn, statement)
        except BaseException:
            conn.close()
            raise
        return conn

    def checkin(self, spec: SessionSpec, conn: Connection) -> None:
        """Return a healthy connection to the pool (closed if the pool is full)."""
        evicted: list[Connection] = []
        with self._lock:
            idle = self._idle.setdefault(spec, [])
            self._idle.move_to_end(spec)
            if len(idle) < MAX_IDLE_PER_SPEC:
                idle.append(conn)
                conn = None  # type: ignore[assignment]
            while len(self._idle) > MAX_SPECS:
                _, old = self._idle.popitem(last=False)
                evicted.extend(old)
        for extra in [*evicted, *([conn] if conn is not None else [])]:
            extra.close()

    @contextmanager
    def session(self, spec: SessionSpec) -> Iterator[Connection]:
        """A connection for ``spec``: pooled again after a clean exit, closed after any error."""
        conn = self.checkout(spec)
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        self.checkin(spec, conn)

    def close(self) -> None:
        """Close every pooled connection and the anchor (the engine shuts down)."""
        with self._lock:
            pools, self._idle = list(self._idle.values()), OrderedDict()
        for idle in pools:
            for conn in idle:
                conn.close()
        self._anchor.close()

    # -- catalogue ---------------------------------------------------------------

    def table_names(self, database: str) -> frozenset[str]:
        """Every table and view of ``database``, as ``db.t``."""
        with self.session(SessionSpec(self.database)) as conn:
            names = self.text(
                conn,
                "SELECT name FROM system.tables WHERE database = {db:String}",
                {"db": database},
            )
        return frozenset(f"{database}.{n}" for n in names.splitlines() if n)

    def discover_tenant_tables(self, objects: tuple[str, ...]) -> frozenset[str]:
        """The tenant-visible tables: ``objects`` of the database with a ``tenant``
        column that are not materialized views (sets :attr:`tenant_tables`)."""
        with self.session(SessionSpec(self.database)) as conn:
            names = self.text(
                conn,
                "SELECT t.name FROM system.tables AS t WHERE t.database = {db:String} "
                "AND t.engine != 'MaterializedView' AND t.name IN "
                "(SELECT table FROM system.columns "
                "WHERE database = {db:String} AND name = 'tenant')",
                {"db": self.database},
            )
        self.tenant_tables = frozenset(
            f"{self.database}.{n}" for n in names.splitlines() if n in objects
        )
        return self.tenant_tables
