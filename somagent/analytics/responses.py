"""Responses as ClickHouse's HTTP interface sends them. Pure, no I/O.

Every response carries ``X-ClickHouse-Server-Display-Name``,
``X-ClickHouse-Query-Id`` and ``X-ClickHouse-Timezone``; results add
``X-ClickHouse-Format``, ``X-ClickHouse-Summary`` (read/written rows and bytes,
elapsed_ns; values as strings) and the format's Content-Type; errors add
``X-ClickHouse-Exception-Code`` and ClickHouse's error text with its status. A
streamed result carries ``X-ClickHouse-Exception-Tag``: an error after the first
bytes were sent is appended as ``__exception__\\r\\n<tag>\\r\\n<text>\\n<length>
<tag>\\r\\n__exception__\\r\\n`` (ClickHouse 25.11+), which clients detect.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from somagent.analytics.engine import Stats
from somagent.analytics.errors import error_body
from somagent.analytics.exceptions import ClickHouseError
from somagent.analytics.formats import content_type


@dataclass(frozen=True)
class Server:
    """What every response names: the server, its engine version and timezone."""

    display_name: str
    version: str
    timezone: str


def base_headers(server: Server, query_id: str) -> dict[str, str]:
    return {
        "X-ClickHouse-Server-Display-Name": server.display_name,
        "X-ClickHouse-Query-Id": query_id,
        "X-ClickHouse-Timezone": server.timezone,
    }


def summary(stats: Stats, result_bytes: int | None = None) -> str:
    """The ``X-ClickHouse-Summary`` value for ``stats``."""
    fields = {
        "read_rows": stats.read_rows,
        "read_bytes": stats.read_bytes,
        "written_rows": stats.written_rows,
        "written_bytes": stats.written_bytes,
        "total_rows_to_read": stats.read_rows,
        "elapsed_ns": stats.elapsed_ns,
    }
    if result_bytes is not None:
        fields["result_bytes"] = result_bytes
    return json.dumps({k: str(v) for k, v in fields.items()}, separators=(",", ":"))


def result_headers(
    server: Server,
    query_id: str,
    fmt: str,
    stats: Stats,
    *,
    result_bytes: int | None = None,
    encoding: str | None = None,
) -> dict[str, str]:
    headers = base_headers(server, query_id)
    headers["X-ClickHouse-Format"] = fmt
    headers["X-ClickHouse-Summary"] = summary(stats, result_bytes)
    headers["Content-Type"] = content_type(fmt)
    if encoding:
        headers["Content-Encoding"] = encoding
    return headers


def error_response_parts(
    server: Server, query_id: str, err: ClickHouseError
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the error response for ``err``."""
    headers = base_headers(server, query_id)
    headers["X-ClickHouse-Exception-Code"] = str(err.code)
    headers["Content-Type"] = "text/plain; charset=UTF-8"
    return err.status or 500, headers, error_body(err, server.version)


def exception_tag() -> str:
    """A fresh tag for one streamed response."""
    return secrets.token_hex(8)


def exception_block(err: ClickHouseError, version: str, tag: str) -> bytes:
    """The trailer that reports ``err`` after part of a result was sent."""
    text = error_body(err, version).rstrip(b"\n")
    tag_bytes = tag.encode()
    return (
        b"__exception__\r\n"
        + tag_bytes
        + b"\r\n"
        + text
        + b"\n"
        + str(len(text)).encode()
        + b" "
        + tag_bytes
        + b"\r\n__exception__\r\n"
    )
