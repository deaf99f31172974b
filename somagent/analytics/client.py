"""``HttpClickHouse``: the ``ClickHouse`` protocol over ClickHouse's HTTP interface.

A drop-in for :class:`~somagent.projections.clickhouse.ChdbClickHouse` and
``DriverClickHouse`` (the protocol in :mod:`somagent.projections.clickhouse`),
talking to the analytics service (``somagent serve analytics``) or to any
ClickHouse server's HTTP port (``http://user:password@host:8123/db``), over one
keep-alive connection pool (httpx; safe to share between threads).

Guarantees:

* ``query`` returns one dict per row, 64-bit integers as ``int`` whatever the
  server's ``output_format_json_quote_64bit_integers`` (read as ``JSON`` with its
  column types, ``wait_end_of_query=1``: an error never arrives as a half result).
* ``{name:Type}`` parameters travel as ``param_<name>`` in ClickHouse's escaped
  text format, so any string value round-trips exactly; servers older than 19.x
  (no query parameters over HTTP) get them rendered as literals client-side.
* Statements run in ``database`` except ``CREATE/DROP DATABASE`` (which must work
  before the database exists).
* Every error response raises :class:`ClickHouseError` with the server's code,
  name and message; a transport failure raises :class:`AnalyticsError` naming the URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import httpx

from somagent.analytics.errors import CODES
from somagent.analytics.exceptions import AnalyticsError, ClickHouseError
from somagent.projections.clickhouse import _literal, render_params

TENANT_HEADER: Final = "X-SomaGent-Tenant"
_NAMES_BY_CODE: Final = {code: name for name, code in CODES.items()}
_BOOTSTRAP = re.compile(r"^\s*(CREATE|DROP)\s+DATABASE\b", re.IGNORECASE)
_WIDE_INT = re.compile(r"^(?:Nullable\(|LowCardinality\()*U?Int(?:64|128|256)\)*$")
_WIDE_ARRAY = re.compile(r"^Array\((?:Nullable\()?U?Int(?:64|128|256)\)?\)$")
_ESCAPES: Final = {
    "\\": "\\\\",
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    "\0": "\\0",
    "\b": "\\b",
    "\f": "\\f",
}


def bind_value(value: Any) -> str:
    """``value`` as a ``param_<name>`` value (ClickHouse's escaped text format)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return _literal(value)
    return "".join(_ESCAPES.get(c, c) for c in str(value))


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> ClickHouseError:
    """The :class:`ClickHouseError` of an error response (any server version)."""
    text = body.decode("utf-8", "replace").strip()
    code_text = headers.get("x-clickhouse-exception-code") or ""
    m = re.search(r"Code: (\d+)", text)
    code = int(code_text) if code_text.isdigit() else int(m.group(1)) if m else 0
    names = re.findall(r"\(([A-Z][A-Z0-9_]+)\)", text)
    name = names[-1] if names else _NAMES_BY_CODE.get(code, "")
    message = text
    if (start := text.find("DB::Exception: ")) >= 0:
        message = text[start + len("DB::Exception: ") :]
    message = re.sub(
        r"(?:,\s*e\.what\(\) = .*|\s*\([A-Z][A-Z0-9_]+\)\s*\(version .*)$",
        "",
        message,
        flags=re.DOTALL,
    )
    return ClickHouseError(code, name, message.strip() or f"HTTP {status}", status)


def _wide(value: Any, typ: str) -> Any:
    if isinstance(value, str) and _WIDE_INT.match(typ):
        return int(value)
    if isinstance(value, list) and _WIDE_ARRAY.match(typ):
        return [int(v) if isinstance(v, str) else v for v in value]
    return value


class HttpClickHouse:
    """ClickHouse over HTTP at ``url`` as ``user``/``key`` (defaults: from the URL).

    ``tenant`` (the analytics service only) makes the service credential act as
    that tenant: read-only, the tenant's rows only. ``settings`` are sent with
    every request as URL parameters (e.g. ``max_result_rows``, ``result_overflow_mode``,
    ``max_execution_time``: a tenant may send those).
    """

    backend = "http"

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        key: str | None = None,
        database: str | None = None,
        tenant: str | None = None,
        timeout_s: float = 300.0,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AnalyticsError(
                f"a ClickHouse HTTP URL looks like http://host:8123/db, got {url!r}"
            )
        port = parts.port or (8443 if parts.scheme == "https" else 8123)
        self.url = f"{parts.scheme}://{parts.hostname}:{port}/"
        self.database = database or parts.path.strip("/") or "default"
        headers = {
            "X-ClickHouse-User": user if user is not None else unquote(parts.username or "default"),
            "X-ClickHouse-Key": key if key is not None else unquote(parts.password or ""),
        }
        if tenant is not None:
            headers[TENANT_HEADER] = tenant
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self._major: int | None = None  # the server's major version, once asked
        self._settings = dict(settings or {})

    def _post(
        self,
        body: bytes | str,
        params: Mapping[str, Any] | None = None,
        *,
        query: str | None = None,
        database: bool = True,
        extra: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        url_params = {**self._settings, "wait_end_of_query": "1", **(extra or {})}
        if database:
            url_params["database"] = self.database
        if params and self.major() < 19:
            if query is not None:
                query = render_params(query, params)
            else:
                body = render_params(body if isinstance(body, str) else body.decode(), params)
            params = None
        if query is not None:
            url_params["query"] = query
        for name, value in (params or {}).items():
            url_params[f"param_{name}"] = bind_value(value)
        try:
            response = self._http.post("", params=url_params, content=body)
        except httpx.HTTPError as exc:
            raise AnalyticsError(f"ClickHouse at {self.url} is unreachable: {exc}") from exc
        if response.status_code != 200 or "x-clickhouse-exception-code" in response.headers:
            raise parse_error(response.status_code, response.headers, response.content)
        return response

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one statement; its output, if any, is discarded."""
        self._post(sql, params, database=_BOOTSTRAP.match(sql) is None)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of one statement as dicts (column name → value)."""
        response = self._post(sql, params, extra={"default_format": "JSON"})
        if not response.content.strip():
            return []
        doc = json.loads(response.content)
        types = {col["name"]: col["type"] for col in doc.get("meta", [])}
        return [{k: _wide(v, types.get(k, "")) for k, v in row.items()} for row in doc["data"]]

    def insert_json_rows(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert ``rows`` (JSONEachRow); the number of rows sent."""
        lines = [json.dumps(row, separators=(",", ":"), default=str) for row in rows]
        if not lines:
            return 0
        self._post("\n".join(lines), query=f"INSERT INTO {table} FORMAT JSONEachRow")
        return len(lines)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        """Insert column-major ``data`` (one list per column) in one statement.

        Sent as JSONCompactColumns where the server has it (ClickHouse 21.12+,
        chDB), else as JSONEachRow rows.
        """
        if not data or not data[0]:
            return 0
        names = ", ".join(columns)
        fmt = "JSONCompactColumns" if self.major() >= 22 else "JSONEachRow"
        if fmt == "JSONCompactColumns":
            body = json.dumps(data, separators=(",", ":"), default=str)
        else:
            body = "\n".join(
                json.dumps(dict(zip(columns, row, strict=True)), separators=(",", ":"), default=str)
                for row in zip(*data, strict=True)
            )
        self._post(body, query=f"INSERT INTO {table} ({names}) FORMAT {fmt}")
        return len(data[0])

    def insert_body(self, sql: str, body: bytes, params: Mapping[str, Any] | None = None) -> int:
        """Run ``sql`` (``INSERT ... FORMAT <f>``, or ``INSERT ... SELECT ... FROM
        input('<structure>') FORMAT <f>``) with ``body`` as its data, e.g. an Avro file.

        Returns the rows written as the server reports them (X-ClickHouse-Summary
        ``written_rows``: rows written by materialized views count too; 0 if not reported).
        """
        response = self._post(body, params, query=sql)
        try:
            return int(
                json.loads(response.headers.get("x-clickhouse-summary", "{}"))["written_rows"]
            )
        except (KeyError, ValueError):
            return 0

    def version(self) -> str:
        """The server's version; answers before the database exists."""
        response = self._post("SELECT version()", database=False)
        return response.text.strip()

    def major(self) -> int:
        """The server's major version (asked once per client)."""
        if self._major is None:
            self._major = int(self.version().split(".")[0])
        return self._major

    def close(self) -> None:
        """Close the connection pool; the instance is unusable afterwards."""
        self._http.close()
