"""ClickHouse's error codes, statuses and error text."""

from __future__ import annotations

import pytest

from somagent.analytics.errors import CODES, error, error_body, from_engine_text, http_status


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("AUTHENTICATION_FAILED", 403),
        ("ACCESS_DENIED", 403),
        ("REQUIRED_PASSWORD", 401),
        ("SYNTAX_ERROR", 400),
        ("CANNOT_PARSE_INPUT_ASSERTION_FAILED", 400),
        ("UNKNOWN_TABLE", 404),
        ("UNKNOWN_SETTING", 404),
        ("NOT_IMPLEMENTED", 501),
        ("TIMEOUT_EXCEEDED", 408),
        ("CANNOT_OPEN_FILE", 503),
        ("READONLY", 500),
        ("SOMETHING_ELSE", 500),
    ],
)
def test_status_follows_clickhouse(name: str, status: int) -> None:
    assert http_status(name) == status


def test_error_and_body() -> None:
    err = error("ACCESS_DENIED", "tenant: Not enough privileges")
    assert (err.code, err.name, err.status) == (497, "ACCESS_DENIED", 403)
    assert error_body(err, "26.9.2.1") == (
        b"Code: 497. DB::Exception: tenant: Not enough privileges. (ACCESS_DENIED) "
        b"(version 26.9.2.1)\n"
    )
    assert len(set(CODES.values())) == len(CODES)  # one name per code


def test_engine_text_is_unwrapped() -> None:
    nested = (
        "Code: 73. DB::Exception: Code: 73. DB::Exception: Unknown format Nope. Maybe you meant: "
        "['One','Npy']. (UNKNOWN_FORMAT) (version 26.9.2.1). (UNKNOWN_FORMAT) (version 26.9.2.1)."
        " (UNKNOWN_FORMAT)"
    )
    err = from_engine_text(nested)
    assert (err.code, err.name, err.status) == (73, "UNKNOWN_FORMAT", 404)
    assert err.message == "Unknown format Nope. Maybe you meant: ['One','Npy']"
    assert error_body(err, "26.9.2.1").endswith(
        b"['One','Npy']. (UNKNOWN_FORMAT) (version 26.9.2.1)\n"
    )
    streamed = from_engine_text(
        "Streaming insert finish failed: Code: 27. DB::Exception: Cannot parse input: "
        "expected ',' (at row 1)\n: While executing CSVRowInputFormat. "
        "(CANNOT_PARSE_INPUT_ASSERTION_FAILED) (version 26.9.2.1)"
    )
    assert streamed.code == 27 and streamed.message.endswith("While executing CSVRowInputFormat")
    named = from_engine_text("Code: 60. DB::Exception: no table. (UNKNOWN_TABLE)", {60: "X_60"})
    assert named.name == "X_60"
    plain = from_engine_text("send_insert does not support INSERT ... SELECT")
    assert (plain.code, plain.name) == (1001, "STD_EXCEPTION")
