"""``sql``: read-only SQL over the calling tenant's own rows in ClickHouse.

The guard (:func:`guard_sql`) works on tokens (string literals and quoted
identifiers are never mistaken for keywords) and accepts only:

* one statement (a trailing ``;`` is allowed) that starts with ``SELECT`` or
  ``WITH``; no comments, no ``{...}`` parameters;
* no write, DDL or session keyword anywhere (``INSERT``, ``ALTER``, ``SET``,
  ``SETTINGS``, ``FORMAT``, ``INTO OUTFILE``, ``SYSTEM`` ...);
* no function that reads outside the query's tables (``file``, ``url``,
  ``remote``, ``s3``, ``mysql``, ``dictGet*``, ``joinGet*`` ...);
* tables only from the allowed set (default: ``events``) or the query's own
  ``WITH`` names; never database-qualified (``system.tables``), never a table
  function (``numbers(10)``), also after ``IN``.

Every allowed table reference is replaced by a tenant-filtered subquery
``(SELECT * FROM <table> FINAL WHERE tenant = {somagent_tenant:UUID})``, keeping
the user's alias (or the table's name as alias), so the query can only see the
caller's rows. The result is wrapped as ``SELECT * FROM (<query>) LIMIT n
SETTINGS readonly = 1, max_execution_time = t``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from somagent.tools.exceptions import SqlRejected, ToolExecutionError
from somagent.tools.spec import Tool, ToolContext, ToolSpec

TENANT_PARAM: Final = "somagent_tenant"
MAX_SQL_CHARS: Final = 10_000

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
    |(?P<comment>--|\#|/\*)
    |(?P<string>'(?:[^'\\]|\\.|'')*')
    |(?P<qident>"(?:[^"\\]|\\.|"")*"|`(?:[^`\\]|\\.|``)*`)
    |(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_$]*)
    |(?P<brace>[{}])
    |(?P<punct>::|<=|>=|!=|<>|\|\||->|[-+*/%=<>(),.;:\[\]?!^&|~@$])
    """,
    re.VERBOSE | re.DOTALL,
)


def _words(text: str, lower: bool = False) -> frozenset[str]:
    return frozenset(w.lower() if lower else w for w in text.split())


FORBIDDEN_KEYWORDS: Final = _words(
    """INSERT UPDATE DELETE ALTER DROP CREATE TRUNCATE RENAME ATTACH DETACH OPTIMIZE GRANT
    REVOKE KILL SYSTEM SET USE INTO OUTFILE INFILE SETTINGS FORMAT EXCHANGE UNDROP MOVE
    BACKUP RESTORE WATCH CHECK DESCRIBE SHOW EXPLAIN"""
)
FORBIDDEN_FUNCTIONS: Final = _words(
    """file url urlCluster remote remoteSecure cluster clusterAllReplicas s3
    s3Cluster gcs oss hdfs hdfsCluster azureBlobStorage azureBlobStorageCluster mysql
    postgresql jdbc odbc sqlite mongodb redis input merge executable dictionary view
    viewIfPermitted viewExplain deltaLake iceberg hudi loop fuzzJSON generateRandom
    hasColumnInTable catboostEvaluate evalMLMethod getMacro shardNum fuzzQuery
    mergeTreeIndex mergeTreeParts icebergS3 icebergAzure icebergHDFS""",
    lower=True,
)
FORBIDDEN_PREFIXES: Final = ("dictget", "dicthas", "joinget", "dictionary")
_CLAUSE_KEYWORDS: Final = _words(
    """WHERE PREWHERE GROUP ORDER LIMIT HAVING UNION EXCEPT INTERSECT WINDOW QUALIFY
    SELECT OFFSET FETCH"""
)
_NOT_ALIAS: Final = _CLAUSE_KEYWORDS | _words(
    """JOIN INNER LEFT RIGHT FULL CROSS OUTER ANY ALL ASOF SEMI ANTI GLOBAL ARRAY ON USING
    FINAL SAMPLE AS LOCAL PASTE"""
)


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    start: int
    end: int

    @property
    def word(self) -> str:
        """Upper-cased text of an unquoted identifier (keywords), else ''."""
        return self.text.upper() if self.kind == "ident" else ""

    @property
    def name(self) -> str:
        """Identifier name with quotes removed."""
        if self.kind == "qident":
            return self.text[1:-1]
        return self.text


def tokenize_sql(sql: str) -> list[Tok]:
    """Significant tokens of ``sql``; raises :class:`SqlRejected` on comments/unknown chars."""
    tokens: list[Tok] = []
    pos = 0
    while pos < len(sql):
        m = _TOKEN_RE.match(sql, pos)
        if m is None:
            raise SqlRejected(f"unexpected character {sql[pos]!r} at position {pos}")
        kind = m.lastgroup or ""
        if kind == "comment":
            raise SqlRejected(f"comments are not allowed (position {pos})")
        if kind == "brace":
            raise SqlRejected(f"query parameters {{...}} are not allowed (position {pos})")
        if kind != "ws":
            tokens.append(Tok(kind, m.group(0), m.start(), m.end()))
        pos = m.end()
    return tokens


@dataclass
class _Frame:
    in_from: bool = False
    expect_table: bool = False


@dataclass
class _Guard:
    tokens: list[Tok]
    tables: Mapping[str, str]
    ctes: set[str] = field(default_factory=set)
    replacements: list[tuple[int, int, str]] = field(default_factory=list)

    def at(self, i: int) -> Tok | None:
        return self.tokens[i] if 0 <= i < len(self.tokens) else None

    def run(self) -> None:
        self.ctes = {
            t.name
            for i, t in enumerate(self.tokens)
            if t.kind in ("ident", "qident")
            and (nxt := self.at(i + 1)) is not None
            and nxt.word == "AS"
            and (par := self.at(i + 2)) is not None
            and par.text == "("
        }
        stack = [_Frame()]
        for i, tok in enumerate(self.tokens):
            self._check_token(i, tok)
            frame = stack[-1]
            if frame.expect_table and tok.text != "(":
                frame.expect_table = False
                self._table(i, tok)
                continue
            frame.expect_table = False
            if tok.text == "(":
                stack.append(_Frame())
            elif tok.text == ")":
                if len(stack) == 1:
                    raise SqlRejected(f"unbalanced ')' at position {tok.start}")
                stack.pop()
            elif tok.word in ("FROM", "JOIN"):
                prev = self.at(i - 1)
                array_join = tok.word == "JOIN" and prev is not None and prev.word == "ARRAY"
                frame.in_from = not array_join
                frame.expect_table = not array_join
            elif tok.word == "IN":
                nxt = self.at(i + 1)
                frame.expect_table = (
                    nxt is not None
                    and nxt.kind in ("ident", "qident")
                    and ((after := self.at(i + 2)) is None or after.text not in ("(", "."))
                )
            elif tok.text == "," and frame.in_from:
                frame.expect_table = True
            elif tok.word in _CLAUSE_KEYWORDS:
                frame.in_from = False
        if len(stack) != 1:
            raise SqlRejected("unbalanced '(': missing ')'")

    def _check_token(self, i: int, tok: Tok) -> None:
        if tok.word in FORBIDDEN_KEYWORDS:
            raise SqlRejected(f"{tok.word} is not allowed in read-only SQL (position {tok.start})")
        nxt = self.at(i + 1)
        if tok.kind == "ident" and nxt is not None and nxt.text == "(":
            low = tok.text.lower()
            if low in FORBIDDEN_FUNCTIONS or low.startswith(FORBIDDEN_PREFIXES):
                raise SqlRejected(f"function {tok.text}() is not allowed (position {tok.start})")
        if tok.text == ";":
            raise SqlRejected(f"only one statement is allowed (';' at position {tok.start})")

    def _table(self, i: int, tok: Tok) -> None:
        if tok.kind not in ("ident", "qident"):
            raise SqlRejected(f"expected a table name at position {tok.start}, got {tok.text!r}")
        nxt = self.at(i + 1)
        if nxt is not None and nxt.text == ".":
            raise SqlRejected(
                f"database-qualified table {tok.name}.… is not allowed (position {tok.start})"
            )
        if nxt is not None and nxt.text == "(":
            raise SqlRejected(f"table function {tok.name}() is not allowed (position {tok.start})")
        if tok.name in self.tables:
            prev = self.at(i - 1)
            self._substitute(i, tok, alias=prev is None or prev.word != "IN")
        elif tok.name not in self.ctes:
            allowed = sorted(self.tables)
            raise SqlRejected(
                f"table {tok.name!r} is not readable (position {tok.start}); allowed: {allowed}"
            )

    def _substitute(self, i: int, tok: Tok, alias: bool) -> None:
        physical = self.tables[tok.name]
        sub = f"(SELECT * FROM {physical} FINAL WHERE tenant = {{{TENANT_PARAM}:UUID}})"
        end = tok.end
        nxt = self.at(i + 1)
        if nxt is not None and nxt.word == "FINAL":
            end = nxt.end  # FINAL already applies inside the subquery
            nxt = self.at(i + 2)
        has_alias = nxt is not None and (
            nxt.word == "AS" or (nxt.kind in ("ident", "qident") and nxt.word not in _NOT_ALIAS)
        )
        keep = has_alias or not alias
        self.replacements.append((tok.start, end, sub if keep else f"{sub} AS {tok.name}"))


def guard_sql(
    sql: str,
    tables: Mapping[str, str] | None = None,
    max_rows: int = 1000,
    max_execution_s: int = 10,
) -> str:
    """The tenant-confined, row-limited form of ``sql``; raises :class:`SqlRejected`.

    ``tables`` maps the names a query may use to physical table names
    (default ``{"events": "events"}``). The returned SQL needs the parameter
    ``somagent_tenant`` (the tenant UUID).
    """
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRejected(f"SQL is {len(sql)} characters; the limit is {MAX_SQL_CHARS}")
    tokens = tokenize_sql(sql)
    while tokens and tokens[-1].text == ";":
        tokens.pop()
    if not tokens:
        raise SqlRejected("SQL is empty")
    if tokens[0].word not in ("SELECT", "WITH"):
        raise SqlRejected(f"only SELECT or WITH queries are allowed, got {tokens[0].text!r}")
    guard = _Guard(tokens, tables or {"events": "events"})
    guard.run()
    text = sql[: tokens[-1].end]
    for start, end, new in sorted(guard.replacements, reverse=True):
        text = text[:start] + new + text[end:]
    return (
        f"SELECT * FROM ({text}) LIMIT {int(max_rows)} "
        f"SETTINGS readonly = 1, max_execution_time = {int(max_execution_s)}"
    )


class ClickHouseQuery(Protocol):
    """What the ``sql`` tool needs from ClickHouse (``somagent.projections.clickhouse``
    implements it). ``params`` use ClickHouse's server-side ``{name:Type}`` syntax."""

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...


ARGS_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sql"],
    "properties": {
        "sql": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SQL_CHARS,
            "description": "One SELECT/WITH query over the table events",
            "x-somagent-extract": "sql",
        }
    },
}

RESULT_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["columns", "rows", "row_count", "truncated"],
    "properties": {
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "object"}},
        "row_count": {"type": "integer", "minimum": 0},
        "truncated": {"type": "boolean"},
    },
}


@dataclass
class SqlTool:
    """Executor of ``sql`` over a :class:`ClickHouseQuery` (run in a worker thread)."""

    clickhouse: ClickHouseQuery
    tables: Mapping[str, str] = field(default_factory=lambda: {"events": "events"})
    max_rows: int = 1000

    async def __call__(self, arguments: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
        guarded = guard_sql(
            str(arguments["sql"]), self.tables, self.max_rows + 1, max(1, int(ctx.timeout_s))
        )
        try:
            rows = await asyncio.to_thread(
                self.clickhouse.query, guarded, {TENANT_PARAM: ctx.tenant}
            )
        except Exception as exc:  # the engine's own error types vary by backend
            raise ToolExecutionError(
                "query-failed", f"sql for tenant {ctx.tenant}: {str(exc)[:500]}"
            ) from exc
        truncated = len(rows) > self.max_rows
        rows = rows[: self.max_rows]
        return {
            "columns": list(rows[0].keys()) if rows else [],
            "rows": rows,
            "row_count": len(rows),
            "truncated": truncated,
        }


def sql_spec(timeout_s: float = 15.0) -> ToolSpec:
    return ToolSpec(
        name="sql",
        description="Read-only SQL query (SELECT) over the tenant's own events table in "
        "ClickHouse analytics: count, group, filter events.",
        args_schema=ARGS_SCHEMA,
        result_schema=RESULT_SCHEMA,
        side_effect=False,
        timeout_s=timeout_s,
        rate_class="analytics",
        idempotent=True,
    )


def sql_tool(clickhouse: ClickHouseQuery, tables: Mapping[str, str] | None = None) -> Tool:
    return Tool(sql_spec(), SqlTool(clickhouse, dict(tables or {"events": "events"})))
