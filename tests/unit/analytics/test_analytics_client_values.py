"""The HTTP client's pure parts: parameter values and error responses of any server."""

from __future__ import annotations

import pytest

from somagent.analytics.client import HttpClickHouse, bind_value, parse_error
from somagent.analytics.exceptions import AnalyticsError


def test_bind_values_use_the_escaped_format() -> None:
    assert bind_value("a\tb\\c\nd") == "a\\tb\\\\c\\nd"
    assert bind_value("it's") == "it's"
    assert bind_value(None) == "\\N"
    assert bind_value(True) == "1" and bind_value(7) == "7"
    assert bind_value(["x'y", 2]) == "['x\\'y',2]"


def test_errors_of_every_server_generation() -> None:
    modern = parse_error(
        404,
        {"x-clickhouse-exception-code": "60"},
        b"Code: 60. DB::Exception: Unknown table expression identifier 'x'. In scope SELECT * "
        b"FROM x. (UNKNOWN_TABLE) (version 26.9.2.1)\n",
    )
    assert (modern.code, modern.name, modern.status) == (60, "UNKNOWN_TABLE", 404)
    assert modern.message == "Unknown table expression identifier 'x'. In scope SELECT * FROM x."
    old = parse_error(
        500,
        {},
        b"Code: 516, e.displayText() = DB::Exception: default: Authentication failed, "
        b"e.what() = DB::Exception\n",
    )
    assert (old.code, old.name) == (516, "AUTHENTICATION_FAILED")
    assert old.message == "default: Authentication failed"
    assert parse_error(502, {}, b"Bad Gateway").code == 0


def test_urls() -> None:
    ch = HttpClickHouse("http://u:p%40ss@127.0.0.1:18123/analytics")
    assert ch.url == "http://127.0.0.1:18123/" and ch.database == "analytics"
    assert ch._http.headers["X-ClickHouse-Key"] == "p@ss"
    ch.close()
    with pytest.raises(AnalyticsError):
        HttpClickHouse("clickhouse://127.0.0.1:9000/db")
