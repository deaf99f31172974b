"""One statement on one engine connection: inspect, resolve, run, stream, insert.

Blocking functions (the HTTP layer runs them in worker threads), one engine call
or a few each. Every engine error is raised as ClickHouseError.

Multi-statement text is refused before anything runs: chDB's ``query`` would run
each statement of ``a; b``, ClickHouse's HTTP interface runs none
(``Multi-statements are not allowed``). The statement count comes from the
engine's own parser (``classify_query``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from somagent.analytics.engine import Connection, Engine, Stats
from somagent.analytics.errors import error
from somagent.analytics.explain import (
    AstSummary,
    TreeSummary,
    dump_lines,
    parse_ast,
    summarize_ast,
    summarize_tree,
)
from somagent.analytics.sessions import quote
from somagent.analytics.statement import input_calls, tokens


def _statement_count(conn: Connection, sql: str) -> int:
    """How many statements the engine's parser finds in ``sql`` (0: none or unparsable)."""
    return int(conn._conn.classify_query(sql)["statement_count"])


def inspect(engine: Engine, conn: Connection, sql: str, params: Mapping[str, str]) -> AstSummary:
    """The parse of ``sql`` (``EXPLAIN AST``); nothing is read or run.

    Raises:
        ClickHouseError: SYNTAX_ERROR for an empty text, several statements, or
            what the parser refuses.
    """
    count = _statement_count(conn, sql)
    if count > 1:
        raise error("SYNTAX_ERROR", "Syntax error (Multi-statements are not allowed)")
    if count == 0 and next(tokens(sql.encode("utf-8")), None) is None:
        raise error("SYNTAX_ERROR", "Empty query")
    dump = bytes(engine.run(conn, f"EXPLAIN AST {sql}", "TabSeparated", params).bytes())
    return summarize_ast(parse_ast(dump_lines(dump.decode("utf-8", "replace"))))


def resolve(engine: Engine, conn: Connection, sql: str, params: Mapping[str, str]) -> TreeSummary:
    """What a SELECT resolves to (``EXPLAIN QUERY TREE``)."""
    dump = bytes(engine.run(conn, f"EXPLAIN QUERY TREE {sql}", "TabSeparated", params).bytes())
    return summarize_tree(dump_lines(dump.decode("utf-8", "replace")))


def buffered(
    engine: Engine, conn: Connection, sql: str, fmt: str, params: Mapping[str, str]
) -> tuple[bytes, Stats]:
    """The whole output of ``sql`` in ``fmt`` (unless its FORMAT clause names another)."""
    result = engine.run(conn, sql, fmt, params)
    return bytes(result.bytes()), Stats.of(result)


def open_stream(
    engine: Engine, conn: Connection, sql: str, fmt: str, params: Mapping[str, str]
) -> Any:
    """A streaming result of ``sql`` (chDB's ``send_query``)."""
    try:
        return conn.send_query(sql, fmt, params=dict(params))
    except RuntimeError as exc:
        raise engine.error(exc) from None


def next_chunk(engine: Engine, stream: Any) -> tuple[bytes, Stats] | None:
    """The next chunk of ``stream`` and its statistics, or None at the end."""
    try:
        result = stream.fetch()
    except RuntimeError as exc:
        raise engine.error(exc) from None
    if result is None:
        return None
    return bytes(result.bytes()), Stats.of(result)


def cancel_stream(stream: Any) -> None:
    """Stop a stream that will not be read to its end."""
    with contextlib.suppress(RuntimeError):  # the engine already ended it
        stream.cancel()


def begin_insert(engine: Engine, conn: Connection, head: str, fmt: str) -> Any:
    """A streaming insert of ``fmt`` data into ``head`` (``INSERT INTO t [(cols)] [SETTINGS]``)."""
    try:
        return conn.send_insert(head, fmt)
    except RuntimeError as exc:
        raise engine.error(exc) from None


def append(engine: Engine, inserter: Any, data: bytes) -> None:
    try:
        inserter.append(data)
    except RuntimeError as exc:
        raise engine.error(exc) from None


def finish(engine: Engine, inserter: Any) -> Stats:
    try:
        done = inserter.finish()
    except RuntimeError as exc:
        raise engine.error(exc) from None
    return Stats(
        written_rows=int(done.rows_written),
        written_bytes=int(done.bytes_written),
        elapsed_ns=int(float(done.elapsed) * 1e9),
    )


def insert_from_file(
    engine: Engine,
    conn: Connection,
    head: str,
    fmt: str,
    path: Path,
    params: Mapping[str, str],
) -> Stats:
    """Run ``INSERT ... SELECT ... FROM input('<structure>')`` with ``path`` as its input.

    ClickHouse's ``input()`` reads the request body; chDB cannot feed a body to an
    INSERT ... SELECT, so the body is spooled to ``path`` and the one ``input(...)``
    call is replaced by ``file('<path>', '<fmt>', <structure>)``: the same rows.
    ``input()`` without a structure (an extension: ClickHouse requires one) reads
    the data with the structure the engine infers from it, e.g. an Avro file's schema.

    Raises:
        ClickHouseError: NOT_IMPLEMENTED unless ``head`` has exactly one ``input('...')``.
    """
    calls = input_calls(head)
    if len(calls) != 1:
        raise error(
            "NOT_IMPLEMENTED",
            "an INSERT ... SELECT with data must read it through exactly one "
            "input('<structure>') (or input())",
        )
    call = calls[0]
    structure = f", {call.structure}" if call.structure else ""
    reader = f"file({quote(str(path))}, {quote(fmt)}{structure})"
    sql = head[: call.start] + reader + head[call.end :]
    result = engine.run(conn, sql, "TabSeparated", params)
    return Stats.of(result)
