"""The query endpoint: one ClickHouse HTTP request, from the wire to the answer.

Order of work for every request: read the parameters and credentials,
authenticate, choose the session (database, settings, tenant filter, readonly),
read the statement (and where its data starts), ask the engine for the parse,
apply :mod:`guard` (tenants: also the resolved query tree), then run: a
streaming insert, an ``INSERT ... SELECT ... FROM input()`` over the spooled
body, a streamed result, or a buffered one. Nothing runs before the checks pass.

Guarantees: every failure is answered in ClickHouse's error shape (never a
traceback); an engine connection is pooled again only after a clean statement
(never after an error, nor after SET/USE); a streamed result whose client went
away is cancelled and its connection closed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from somagent.analytics import executor, guard
from somagent.analytics import request as http_request
from somagent.analytics.compression import RESPONSE_ENCODINGS, Encoder, decode
from somagent.analytics.engine import Connection, Engine, Stats
from somagent.analytics.errors import error
from somagent.analytics.exceptions import ClickHouseError
from somagent.analytics.explain import AstSummary
from somagent.analytics.formats import streams
from somagent.analytics.principals import Authenticator, Principal
from somagent.analytics.responses import (
    Server,
    error_response_parts,
    exception_block,
    exception_tag,
    result_headers,
)
from somagent.analytics.sessions import SessionSpec, session_spec
from somagent.analytics.statement import InsertSplit, split_insert

log = logging.getLogger(__name__)
APPEND_BYTES = 1 << 20
SESSION_ROOTS = ("Set", "Use")  # SET, SET ROLE, USE: they change the connection's session


@dataclass
class Statement:
    """The statement text (an INSERT's head without its FORMAT clause) and data."""

    text: str
    insert: InsertSplit | None = None
    data: bytes = b""


class Lease:
    """One checked-out engine connection; released exactly once.

    ``reusable`` is cleared when a statement changed the session itself (``SET``,
    ``USE``): over HTTP such a change lasts one request, as without a ClickHouse
    session, so that connection is closed instead of pooled.
    """

    def __init__(self, engine: Engine, spec: SessionSpec, conn: Connection) -> None:
        self.engine, self.spec, self.conn = engine, spec, conn
        self.done = False
        self.reusable = True

    def release(self, healthy: bool) -> None:
        if self.done:
            return
        self.done = True
        if healthy and self.reusable:
            self.engine.checkin(self.spec, self.conn)
        else:
            self.conn.close()


@dataclass
class Prepared:
    """A parsed and authorized statement on its connection (and its result, if buffered)."""

    lease: Lease
    ast: AstSummary
    fmt: str
    streamed: bool = False
    result: tuple[bytes, Stats] | None = None


class QueryService:
    """Answers ClickHouse HTTP queries against ``engine``."""

    def __init__(self, engine: Engine, auth: Authenticator, server: Server, spool: Path) -> None:
        self.engine = engine
        self.auth = auth
        self.server = server
        self.spool = spool

    def error_response(self, query_id: str, err: ClickHouseError) -> Response:
        status, headers, body = error_response_parts(self.server, query_id, err)
        return Response(body, status_code=status, headers=headers)

    async def handle(self, request: Request) -> Response:
        query_id = request.query_params.get("query_id") or str(uuid.uuid4())
        try:
            q = http_request.parse(
                request.method,
                request.query_params.multi_items(),
                {k.lower(): v for k, v in request.headers.items()},
                frozenset(RESPONSE_ENCODINGS),
            )
            q.query_id = query_id
            if q.method == "GET" and not q.query:
                return PlainTextResponse("Ok.\n")
            principal = await self.auth.authenticate(q.credentials, q.tenant)
            spec = session_spec(principal, q, self.engine.database)
            statement, body = await self._read(request, q)
            return await self._execute(q, principal, spec, statement, body)
        except ClickHouseError as err:
            return self.error_response(query_id, err)
        except Exception as exc:
            log.exception("analytics: query %s failed", query_id)
            internal = ClickHouseError(1001, "STD_EXCEPTION", f"{type(exc).__name__}: {exc}", 500)
            return self.error_response(query_id, internal)

    async def _read(
        self, request: Request, q: http_request.HttpQuery
    ) -> tuple[Statement, AsyncIterator[bytes] | None]:
        """The statement; for an INSERT whose data is the body, the body's stream."""
        param = q.query.encode("utf-8")
        if param and q.method == "POST":
            head = param + b"\n"
            split = split_insert(head)
            if split is not None:
                prefix = head[split.data_start :]
                if q.content_encoding:
                    body = decode(q.content_encoding, await request.body())
                    return Statement(split.head, split, prefix + body), None
                return Statement(split.head, split, prefix), request.stream()
        raw = await request.body()
        if q.content_encoding:
            raw = decode(q.content_encoding, raw)
        text = param + b"\n" + raw if param and raw else (param or raw)
        split = split_insert(text)
        if split is not None:
            return Statement(split.head, split, text[split.data_start :]), None
        try:
            return Statement(text.decode("utf-8")), None
        except UnicodeDecodeError as exc:
            raise error("SYNTAX_ERROR", f"the query is not valid UTF-8: {exc}") from exc

    async def _execute(
        self,
        q: http_request.HttpQuery,
        principal: Principal,
        spec: SessionSpec,
        statement: Statement,
        body: AsyncIterator[bytes] | None,
    ) -> Response:
        prepared = await to_thread.run_sync(self._prepare, q, principal, spec, statement)
        lease = prepared.lease
        try:
            response = await self._respond(prepared, q, statement, body)
        except BaseException:
            lease.release(False)  # see engine.py: a failed statement taints its connection
            raise
        if not isinstance(response, StreamingResponse):  # a stream releases it when it ends
            lease.release(True)
        return response

    def _prepare(
        self,
        q: http_request.HttpQuery,
        principal: Principal,
        spec: SessionSpec,
        statement: Statement,
    ) -> Prepared:
        """Blocking, in one worker thread: check out a connection, parse, authorize,
        and run the statement when its result is buffered (the common case).

        The statement is inspected in the same session without the request's URL
        settings, so that a limit such as ``max_result_rows`` applies to the result
        only, never to the service's own EXPLAIN statements.
        """
        engine = self.engine
        lease = Lease(engine, spec, engine.checkout(spec))
        try:
            params = q.query_params  # chDB parses them as ClickHouse does (escaped format)
            probe = statement.text
            if statement.insert is not None:
                probe = f"{statement.text} FORMAT {statement.insert.format}"
            plain = dataclasses.replace(spec, settings=())
            if plain == spec:
                ast = self._check(principal, lease.conn, plain, probe, params)
            else:
                with engine.session(plain) as conn:
                    ast = self._check(principal, conn, plain, probe, params)
            lease.reusable = not ast.root.startswith(SESSION_ROOTS)
            fmt = ast.output_format or q.default_format
            prepared = Prepared(lease, ast, fmt)
            prepared.streamed = ast.is_select and streams(fmt) and not q.wait_end_of_query
            if statement.insert is None and not prepared.streamed:
                prepared.result = executor.buffered(engine, lease.conn, statement.text, fmt, params)
            return prepared
        except BaseException:
            lease.release(False)
            raise

    async def _respond(
        self,
        prepared: Prepared,
        q: http_request.HttpQuery,
        statement: Statement,
        body: AsyncIterator[bytes] | None,
    ) -> Response:
        if statement.insert is not None:
            if q.readonly_method:
                raise error(
                    "READONLY",
                    "Cannot execute query in readonly mode. For queries over HTTP, method GET "
                    "implies readonly. You should use method POST for modifying queries",
                )
            stats = await self._insert(prepared.lease.conn, statement, prepared.ast, body, q)
            headers = result_headers(self.server, q.query_id, q.default_format, stats)
            return Response(b"", headers=headers)
        if prepared.streamed:
            return await self._stream(prepared.lease, q, statement.text, prepared.fmt)
        assert prepared.result is not None
        data, stats = prepared.result
        size = len(data)
        if q.compression:
            encoder = Encoder(q.compression)
            data = encoder.chunk(data) + encoder.finish()
        headers = result_headers(
            self.server, q.query_id, prepared.fmt, stats, result_bytes=size, encoding=q.compression
        )
        return Response(data, headers=headers)

    def _check(
        self,
        principal: Principal,
        conn: Connection,
        spec: SessionSpec,
        probe: str,
        params: dict[str, str],
    ) -> AstSummary:
        """Parse ``probe`` and apply :mod:`guard` for ``principal`` (blocking; a
        tenant's statement also needs the catalogue and the resolved query tree)."""
        engine, who = self.engine, principal.name
        ast = executor.inspect(engine, conn, probe, params)
        guard.check_outfile(ast)
        if not principal.readonly:
            return ast
        if principal.tenant is None:
            guard.check_statement_kind(ast, who, tenant=False)
            guard.check_functions(ast, who, engine.table_functions)
            return ast
        visibility = guard.Visibility(engine.database, engine.tenant_tables)
        existing = engine.table_names(spec.database)
        guard.check_ast(ast, who, visibility, existing, engine.table_functions)
        if ast.is_select:
            tree = executor.resolve(engine, conn, probe, params)
            guard.check_tree(tree, who, visibility, engine.table_functions)
        return ast

    async def _insert(
        self,
        conn: Connection,
        statement: Statement,
        ast: AstSummary,
        body: AsyncIterator[bytes] | None,
        q: http_request.HttpQuery,
    ) -> Stats:
        assert statement.insert is not None
        engine, fmt, params = self.engine, statement.insert.format, q.query_params
        if "input" in ast.table_functions:
            path = self.spool / f"{uuid.uuid4().hex}.{fmt.lower()}"
            try:
                with path.open("wb") as spooled:
                    spooled.write(statement.data)
                    if body is not None:
                        async for chunk in body:
                            spooled.write(chunk)
                return await to_thread.run_sync(
                    executor.insert_from_file, engine, conn, statement.text, fmt, path, params
                )
            finally:
                path.unlink(missing_ok=True)
        inserter = await to_thread.run_sync(
            executor.begin_insert, engine, conn, statement.text, fmt
        )
        try:
            pending = bytearray(statement.data)
            if body is not None:
                async for chunk in body:
                    pending += chunk
                    if len(pending) >= APPEND_BYTES:
                        await to_thread.run_sync(executor.append, engine, inserter, bytes(pending))
                        pending.clear()
            if pending:
                await to_thread.run_sync(executor.append, engine, inserter, bytes(pending))
            return await to_thread.run_sync(executor.finish, engine, inserter)
        except BaseException:
            await to_thread.run_sync(_cancel_insert, inserter)
            raise

    async def _stream(
        self, lease: Lease, q: http_request.HttpQuery, sql: str, fmt: str
    ) -> Response:
        """A streamed result; one that fits in two engine chunks is answered whole."""
        engine = self.engine

        def start() -> tuple[Any, list[tuple[bytes, Stats]], bool]:
            stream = executor.open_stream(engine, lease.conn, sql, fmt, q.query_params)
            chunks: list[tuple[bytes, Stats]] = []
            try:
                while len(chunks) < 2:
                    chunk = executor.next_chunk(engine, stream)
                    if chunk is None:
                        return stream, chunks, True
                    chunks.append(chunk)
                return stream, chunks, False
            except BaseException:
                executor.cancel_stream(stream)
                raise

        stream, chunks, ended = await to_thread.run_sync(start)
        stats = chunks[0][1] if chunks else Stats()
        encoder = Encoder(q.compression) if q.compression else None
        if ended:
            data = b"".join(c for c, _ in chunks)
            size = len(data)
            if encoder:
                data = encoder.chunk(data) + encoder.finish()
            headers = result_headers(
                self.server, q.query_id, fmt, stats, result_bytes=size, encoding=q.compression
            )
            return Response(data, headers=headers)
        tag = exception_tag()
        headers = result_headers(self.server, q.query_id, fmt, stats, encoding=q.compression)
        headers["X-ClickHouse-Exception-Tag"] = tag
        body = _stream_body(engine, lease, stream, chunks, encoder, tag)
        return StreamingResponse(body, headers=headers)


def _cancel_insert(inserter: Any) -> None:
    with contextlib.suppress(RuntimeError):  # already ended by the engine
        inserter.cancel()


async def _stream_body(
    engine: Engine,
    lease: Lease,
    stream: Any,
    pending: list[tuple[bytes, Stats]],
    encoder: Encoder | None,
    tag: str,
) -> AsyncIterator[bytes]:
    """The response body of a streamed result; owns ``lease`` until it ends."""
    finished = False
    try:
        for data, _ in pending:
            out = encoder.chunk(data) if encoder else data
            if out:
                yield out
        chunk = await to_thread.run_sync(executor.next_chunk, engine, stream)
        while chunk is not None:
            out = encoder.chunk(chunk[0]) if encoder else chunk[0]
            if out:
                yield out
            chunk = await to_thread.run_sync(executor.next_chunk, engine, stream)
        if encoder:
            yield encoder.finish()
        finished = True
    except ClickHouseError as err:
        block = exception_block(err, engine.version, tag)
        yield (encoder.chunk(block) + encoder.finish()) if encoder else block
    finally:
        if not finished:
            executor.cancel_stream(stream)
        lease.release(finished)
