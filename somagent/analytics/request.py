"""A ClickHouse HTTP request, read into what the service needs. Pure, no I/O.

URL parameters are sorted into four kinds, as ClickHouse's HTTP handler does:
transport parameters (``query``, ``database``, ``default_format``, ``query_id``,
``session_id``, ``wait_end_of_query``, compression switches...), credentials
(``user``/``password``), query parameters (``param_<name>``) and everything
else, which is a setting. Credentials come from the ``X-ClickHouse-User`` /
``X-ClickHouse-Key`` headers, else HTTP Basic, else the URL; none means
ClickHouse's ``default`` user with an empty password.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from somagent.analytics.errors import error
from somagent.analytics.formats import DEFAULT_FORMAT

# Parameters ClickHouse's HTTP layer consumes itself; they never reach the engine.
TRANSPORT_PARAMS: Final = frozenset(
    [
        "query",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "user",
        "password",
        "quota_key",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "stacktrace",
        "enable_http_compression",
        "http_zlib_compression_level",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "http_response_buffer_size",
        "http_wait_end_of_query",
        "add_http_cors_header",
        "http_native_compression_disable_checksumming_on_decompress",
    ]
)
TENANT_HEADER: Final = "x-somagent-tenant"


@dataclass(frozen=True)
class Credentials:
    user: str
    key: str


@dataclass
class HttpQuery:
    """One request's parameters, credentials and transport choices."""

    method: str
    query: str = ""
    database: str | None = None
    default_format: str = DEFAULT_FORMAT
    query_id: str = ""
    wait_end_of_query: bool = False
    compression: str | None = None  # response Content-Encoding to use
    content_encoding: str = ""
    credentials: Credentials = field(default_factory=lambda: Credentials("default", ""))
    tenant: str | None = None  # X-SomaGent-Tenant
    query_params: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def readonly_method(self) -> bool:
        """GET implies readonly (ClickHouse applies readonly=2 to GET requests)."""
        return self.method in ("GET", "HEAD")


def credentials(headers: Mapping[str, str], params: Mapping[str, str]) -> Credentials:
    """The user and key a request presents (headers, else Basic auth, else URL)."""
    if "x-clickhouse-user" in headers or "x-clickhouse-key" in headers:
        return Credentials(
            headers.get("x-clickhouse-user", "default") or "default",
            headers.get("x-clickhouse-key", ""),
        )
    auth = headers.get("authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise error("AUTHENTICATION_FAILED", "malformed HTTP Basic credentials") from exc
        user, _, key = decoded.partition(":")
        return Credentials(user or "default", key)
    return Credentials(params.get("user", "default") or "default", params.get("password", ""))


def parse(
    method: str,
    items: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    accepts: frozenset[str] = frozenset(),
) -> HttpQuery:
    """Read ``items`` (URL parameters, later ones win) and lower-cased ``headers``.

    ``accepts`` are the response encodings the service can produce.
    """
    params: dict[str, str] = {}
    for key, value in items:
        params[key] = value
    out = HttpQuery(method=method.upper(), credentials=credentials(headers, params))
    out.query = params.get("query", "")
    out.database = params.get("database") or headers.get("x-clickhouse-database") or None
    out.default_format = (
        params.get("default_format") or headers.get("x-clickhouse-format") or DEFAULT_FORMAT
    )
    out.query_id = params.get("query_id") or str(uuid.uuid4())
    out.wait_end_of_query = params.get("wait_end_of_query", "0") not in ("", "0", "false")
    if params.get("enable_http_compression", "0") not in ("", "0", "false"):
        for part in headers.get("accept-encoding", "").split(","):
            name = part.split(";")[0].strip().lower()
            if name in accepts:
                out.compression = name
                break
    out.content_encoding = headers.get("content-encoding", "")
    tenant = headers.get(TENANT_HEADER)
    out.tenant = tenant.strip() if tenant is not None else None
    for key, value in params.items():
        if key.startswith("param_"):
            out.query_params[key[len("param_") :]] = value
        elif key not in TRANSPORT_PARAMS:
            out.settings[key] = value
    return out
