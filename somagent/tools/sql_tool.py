"""``sql``: read-only SQL over the calling tenant's own rows, isolated by the engine.

The model's SQL is sent **unchanged** to the analytics service through a client
scoped to the calling tenant (``analytics_client(settings, tenant=...)``): the
service runs it read-only on a connection whose ``additional_table_filters`` keep
every tenant-visible table (``events``, ``usage_minute`` and their views) to that
tenant's rows wherever they are read (subqueries, CTEs, views, JOIN, IN, UNION),
and refuses, from the engine's own parse and analysis, anything that is not a read
of visible tables: table functions, file/dictionary functions, system and invisible
tables, writes, ``SET``/``SETTINGS`` overrides (docs/analytics.md, "Tenancy").
Isolation therefore never depends on parsing SQL here; a WITH name that shadows a
table in a subquery (the bypass of the old text guard) reads only the caller's rows.

This module keeps only cheap sanity limits:

* size: at most :data:`MAX_SQL_CHARS` characters (the argument schema);
* one statement: trailing ``;`` are dropped, and the service refuses several
  statements (``SYNTAX_ERROR``);
* rows and bytes: ``max_result_rows`` = ``max_rows + 1`` and ``max_result_bytes``
  with ``result_overflow_mode = 'break'``, then the result is cut to ``max_rows``
  (``truncated`` says so);
* time: ``max_execution_time`` = the tool's timeout less :data:`ENGINE_MARGIN_S`,
  in whole seconds (the engine ends a long query before the broker gives up);
* ``final = 1``: replicated rows of ReplacingMergeTree tables read collapsed.

Errors are the engine's, as a clear tool failure (the ClickHouse code and name in
the message). The caller's own SQL failing — a syntax error, an unknown column, a
refused table or function (``rejected``), a query over its time limit
(``timeout``) — is the caller's failure (``infrastructure=False``: never retried,
never opens the breaker). Only the service being unreachable or failing itself is
``unavailable`` (infrastructure).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from somagent.analytics.connect import analytics_client
from somagent.analytics.exceptions import AnalyticsError, ClickHouseError
from somagent.config import Settings
from somagent.tools.exceptions import ToolExecutionError
from somagent.tools.spec import Tool, ToolContext, ToolSpec

MAX_SQL_CHARS: Final = 10_000
MAX_ROWS: Final = 1_000
MAX_RESULT_BYTES: Final = 8 * 1024 * 1024
TIMEOUT_S: Final = 15.0
ENGINE_MARGIN_S: Final = 2.0
CACHED_TENANTS: Final = 256

#: Engine errors that are the service's or the platform's, not the query's.
INFRASTRUCTURE_ERRORS: Final = frozenset(
    {
        "STD_EXCEPTION",
        "UNKNOWN_EXCEPTION",
        "ALL_CONNECTION_TRIES_FAILED",
        "SOCKET_TIMEOUT",
        "NETWORK_ERROR",
        "CANNOT_SCHEDULE_TASK",
        "TOO_MANY_SIMULTANEOUS_QUERIES",
        "AUTHENTICATION_FAILED",
        "UNKNOWN_USER",
        "WRONG_PASSWORD",
        "REQUIRED_PASSWORD",
    }
)
#: Engine errors that mean "this query may not do that".
REFUSALS: Final = frozenset(
    {"ACCESS_DENIED", "READONLY", "INTO_OUTFILE_NOT_ALLOWED", "SETTING_CONSTRAINT_VIOLATION"}
)


class ClickHouseQuery(Protocol):
    """What the ``sql`` tool needs of a tenant-scoped client
    (:class:`somagent.analytics.client.HttpClickHouse` implements it)."""

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...


#: tenant id → a client that reads as that tenant only.
TenantConnect = Callable[[str], ClickHouseQuery]


def execution_limit_s(timeout_s: float) -> int:
    """The engine's ``max_execution_time`` for a tool timeout: :data:`ENGINE_MARGIN_S`
    shorter (whole seconds, at least 1), so the engine ends an over-long query — the
    caller's failure — before the broker gives up on the tool (the tool's failure)."""
    return max(1, int(timeout_s - ENGINE_MARGIN_S))


def tenant_query_settings(max_rows: int, timeout_s: float) -> dict[str, str]:
    """The ClickHouse settings every tool query runs with (see the module doc)."""
    return {
        "max_result_rows": str(max_rows + 1),
        "max_result_bytes": str(MAX_RESULT_BYTES),
        "result_overflow_mode": "break",
        "max_execution_time": str(execution_limit_s(timeout_s)),
        "final": "1",
    }


def one_statement(sql: str) -> str:
    """``sql`` without surrounding blanks and trailing ``;``; refuses an empty one."""
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise ToolExecutionError("rejected", "sql: the statement is empty", infrastructure=False)
    return text


def engine_failure(tenant: str, exc: Exception) -> ToolExecutionError:
    """The tool failure for an error of the analytics service (see the module doc)."""
    if isinstance(exc, ClickHouseError):
        what = f"sql for tenant {tenant}: ClickHouse error {exc.code} {exc.name}: {exc.message}"
        what = what[:700]
        if exc.name in INFRASTRUCTURE_ERRORS or exc.status == 503:
            return ToolExecutionError("unavailable", what, infrastructure=True)
        if exc.name in REFUSALS:
            return ToolExecutionError("rejected", what, infrastructure=False)
        if exc.name == "TIMEOUT_EXCEEDED":
            return ToolExecutionError("timeout", what, infrastructure=False)
        return ToolExecutionError("query-failed", what, infrastructure=False)
    if isinstance(exc, AnalyticsError):
        return ToolExecutionError(
            "unavailable", f"sql for tenant {tenant}: {str(exc)[:500]}", infrastructure=True
        )
    # The response was not the JSON document asked for: the statement chose its own
    # output (a FORMAT clause).
    return ToolExecutionError(
        "rejected",
        f"sql for tenant {tenant}: the result is not ClickHouse JSON ({type(exc).__name__}); "
        "leave out FORMAT clauses",
        infrastructure=False,
    )


ARGS_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sql"],
    "properties": {
        "sql": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SQL_CHARS,
            "description": "One read-only query (SELECT/WITH) over events, usage_minute, "
            "usage_by_minute or turn_step_latency",
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
    """Executor of ``sql``: one tenant-scoped client per tenant (the most recently
    used :data:`CACHED_TENANTS` are kept), queries run in a worker thread."""

    connect: TenantConnect
    max_rows: int = MAX_ROWS
    _clients: OrderedDict[str, ClickHouseQuery] = field(
        default_factory=OrderedDict, init=False, repr=False
    )

    def client(self, tenant: str) -> ClickHouseQuery:
        found = self._clients.pop(tenant, None)
        if found is None:
            found = self.connect(tenant)
        self._clients[tenant] = found
        while len(self._clients) > CACHED_TENANTS:
            _, old = self._clients.popitem(last=False)
            close = getattr(old, "close", None)
            if callable(close):
                close()
        return found

    async def __call__(self, arguments: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
        sql = one_statement(str(arguments["sql"]))
        try:
            client = self.client(ctx.tenant)
            rows = await asyncio.to_thread(client.query, sql)
        except Exception as exc:  # ClickHouseError, AnalyticsError, or a non-JSON result
            raise engine_failure(ctx.tenant, exc) from exc
        truncated = len(rows) > self.max_rows
        rows = rows[: self.max_rows]
        return {
            "columns": list(rows[0].keys()) if rows else [],
            "rows": rows,
            "row_count": len(rows),
            "truncated": truncated,
        }


def sql_spec(timeout_s: float = TIMEOUT_S) -> ToolSpec:
    return ToolSpec(
        name="sql",
        description="Read-only SQL query (SELECT) over the tenant's own events and usage in "
        "ClickHouse analytics: count, group, filter events.",
        args_schema=ARGS_SCHEMA,
        result_schema=RESULT_SCHEMA,
        side_effect=False,
        timeout_s=timeout_s,
        rate_class="analytics",
        idempotent=True,
    )


def sql_tool(
    connect: TenantConnect, max_rows: int = MAX_ROWS, timeout_s: float = TIMEOUT_S
) -> Tool:
    """The ``sql`` tool; ``connect`` should apply ``tenant_query_settings(max_rows,
    timeout_s)`` (as :func:`analytics_connect` does)."""
    return Tool(sql_spec(timeout_s), SqlTool(connect, max_rows))


def analytics_connect(
    settings: Settings, max_rows: int = MAX_ROWS, timeout_s: float = TIMEOUT_S
) -> TenantConnect | None:
    """Tenant-scoped clients of this installation's analytics service, or None when
    ``SOMAGENT_CLICKHOUSE_URL`` names a ClickHouse server: only the analytics service
    scopes a query to a tenant, so there is no ``sql`` tool without it."""
    if settings.clickhouse_url:
        return None
    query_settings = tenant_query_settings(max_rows, timeout_s)

    def connect(tenant: str) -> ClickHouseQuery:
        return analytics_client(
            settings, tenant=tenant, timeout_s=timeout_s + 5, settings_per_query=query_settings
        )

    return connect
