"""Reading a ClickHouse HTTP request's parameters and credentials."""

from __future__ import annotations

import base64

import pytest

from somagent.analytics.exceptions import ClickHouseError
from somagent.analytics.request import credentials, parse


def test_parameters_are_sorted_by_kind() -> None:
    q = parse(
        "get",
        [
            ("query", "SELECT 1"),
            ("database", "d"),
            ("default_format", "JSON"),
            ("param_x", "1"),
            ("session_id", "s"),
            ("max_threads", "2"),
            ("wait_end_of_query", "1"),
            ("enable_http_compression", "1"),
            ("query_id", "q1"),
            ("max_threads", "3"),
        ],
        {"accept-encoding": "br, gzip", "x-somagent-tenant": " t "},
        frozenset({"gzip"}),
    )
    assert (q.method, q.query, q.database, q.default_format, q.query_id) == (
        "GET",
        "SELECT 1",
        "d",
        "JSON",
        "q1",
    )
    assert q.query_params == {"x": "1"} and q.settings == {"max_threads": "3"}
    assert q.wait_end_of_query and q.compression == "gzip" and q.tenant == "t"
    assert q.readonly_method
    defaults = parse("POST", [], {"x-clickhouse-format": "CSV", "x-clickhouse-database": "db"})
    assert defaults.default_format == "CSV" and defaults.database == "db"
    assert defaults.compression is None and defaults.query_id


def test_credentials_headers_basic_url() -> None:
    basic = "Basic " + base64.b64encode(b"u:p:with:colons").decode()
    assert credentials({"authorization": basic}, {}) == credentials(
        {}, {"user": "u", "password": "p:with:colons"}
    )
    headers = {"x-clickhouse-user": "h", "x-clickhouse-key": "k", "authorization": basic}
    assert credentials(headers, {"user": "x"}).user == "h"
    assert credentials({}, {}).user == "default" and credentials({}, {}).key == ""
    with pytest.raises(ClickHouseError) as bad:
        credentials({"authorization": "Basic !!!"}, {})
    assert bad.value.name == "AUTHENTICATION_FAILED"
