"""ClickHouse's error codes, the HTTP status it sends for each, and its error text.

Pure functions, no I/O. The statuses follow ClickHouse's
``exceptionCodeToHTTPStatus`` (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp):
401 for REQUIRED_PASSWORD, 403 for authentication and access errors, 400 for
parse/syntax/type errors, 404 for unknown tables/functions/formats/settings, 501
NOT_IMPLEMENTED, 503 for SOCKET_TIMEOUT/CANNOT_OPEN_FILE/CANNOT_SCHEDULE_TASK, 411,
408 TIMEOUT_EXCEEDED, 413 QUERY_IS_TOO_LARGE, 415, and 500 for everything else.

The body is ClickHouse's: ``Code: N. DB::Exception: <message>. (NAME) (version V)\\n``.
Errors reported by chDB arrive wrapped (``Code: 73. DB::Exception: Code: 73.
DB::Exception: ... (UNKNOWN_FORMAT) (version ...). (UNKNOWN_FORMAT)``, sometimes
behind a Python prefix); :func:`from_engine_text` reduces them to one message.
"""

from __future__ import annotations

import re
from typing import Final

from somagent.analytics.exceptions import ClickHouseError

# The codes this service raises itself (values as ClickHouse 26.x's errorCodeToName).
CODES: Final[dict[str, int]] = {
    "UNSUPPORTED_METHOD": 1,
    "BAD_ARGUMENTS": 36,
    "NOT_IMPLEMENTED": 48,
    "LOGICAL_ERROR": 49,
    "UNKNOWN_TABLE": 60,
    "SYNTAX_ERROR": 62,
    "UNKNOWN_FORMAT": 73,
    "CANNOT_OPEN_FILE": 76,
    "UNKNOWN_DATABASE": 81,
    "UNKNOWN_COMPRESSION_METHOD": 89,
    "NO_DATA_TO_INSERT": 108,
    "UNKNOWN_SETTING": 115,
    "TIMEOUT_EXCEEDED": 159,
    "READONLY": 164,
    "UNKNOWN_USER": 192,
    "WRONG_PASSWORD": 193,
    "REQUIRED_PASSWORD": 194,
    "CANNOT_DECOMPRESS": 271,
    "ALL_CONNECTION_TRIES_FAILED": 279,
    "INTO_OUTFILE_NOT_ALLOWED": 358,
    "HTTP_LENGTH_REQUIRED": 381,
    "SETTING_CONSTRAINT_VIOLATION": 452,
    "ACCESS_DENIED": 497,
    "AUTHENTICATION_FAILED": 516,
    "STD_EXCEPTION": 1001,
}

_FORBIDDEN = frozenset(
    [
        "UNKNOWN_USER",
        "WRONG_PASSWORD",
        "AUTHENTICATION_FAILED",
        "SET_NON_GRANTED_ROLE",
        "ACCESS_DENIED",
    ]
)
_BAD_REQUEST = frozenset(
    [
        "BAD_ARGUMENTS",
        "CANNOT_COMPILE_REGEXP",
        "CANNOT_PARSE_TEXT",
        "CANNOT_PARSE_ESCAPE_SEQUENCE",
        "CANNOT_PARSE_QUOTED_STRING",
        "CANNOT_PARSE_DATE",
        "CANNOT_PARSE_DATETIME",
        "CANNOT_PARSE_NUMBER",
        "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
        "CANNOT_PARSE_IPV4",
        "CANNOT_PARSE_IPV6",
        "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
        "CANNOT_PARSE_UUID",
        "DUPLICATE_COLUMN",
        "ILLEGAL_COLUMN",
        "UNKNOWN_ELEMENT_IN_AST",
        "UNKNOWN_TYPE_OF_AST_NODE",
        "THERE_IS_NO_COLUMN",
        "TOO_DEEP_AST",
        "TOO_BIG_AST",
        "UNEXPECTED_AST_STRUCTURE",
        "SYNTAX_ERROR",
        "INCORRECT_DATA",
        "TYPE_MISMATCH",
        "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    ]
)
_NOT_FOUND = frozenset(
    [
        "UNKNOWN_TABLE",
        "UNKNOWN_FUNCTION",
        "UNKNOWN_IDENTIFIER",
        "UNKNOWN_TYPE",
        "UNKNOWN_STORAGE",
        "UNKNOWN_DATABASE",
        "UNKNOWN_SETTING",
        "UNKNOWN_DIRECTION_OF_SORTING",
        "UNKNOWN_AGGREGATE_FUNCTION",
        "UNKNOWN_FORMAT",
        "UNKNOWN_DATABASE_ENGINE",
        "UNKNOWN_TYPE_OF_QUERY",
        "UNKNOWN_ROLE",
    ]
)
_OTHER: Final[dict[str, int]] = {
    "REQUIRED_PASSWORD": 401,
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "CANNOT_SCHEDULE_TASK": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}


def http_status(name: str) -> int:
    """The HTTP status ClickHouse answers an error named ``name`` with."""
    if name in _FORBIDDEN:
        return 403
    if name in _BAD_REQUEST:
        return 400
    if name in _NOT_FOUND:
        return 404
    return _OTHER.get(name, 500)


def error(name: str, message: str) -> ClickHouseError:
    """A :class:`ClickHouseError` for one of :data:`CODES`, with its HTTP status."""
    return ClickHouseError(CODES[name], name, message, http_status(name))


def error_body(err: ClickHouseError, version: str) -> bytes:
    """The response body ClickHouse sends for ``err``."""
    message = err.message.rstrip()
    if not message.endswith("."):
        message += "."
    return f"Code: {err.code}. DB::Exception: {message} ({err.name}) (version {version})\n".encode()


_PY_PREFIXES = (
    "Streaming query failed: ",
    "Streaming insert finish failed: ",
    "Streaming insert append failed: ",
    "Failed to create connection: ",
)
_HEAD = re.compile(r"^Code: (\d+)\. DB::Exception: ")
_TAIL = re.compile(r"(?:\.?\s*\((?:[A-Z][A-Z0-9_]*|version [^()]*(?:\([^()]*\))?[^()]*)\))+\.?\s*$")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")


def from_engine_text(text: str, names: dict[int, str] | None = None) -> ClickHouseError:
    """The :class:`ClickHouseError` for an error text chDB reported.

    ``names`` maps codes to names (the engine's ``errorCodeToName``); without it
    the name in the text is used. Text without a ``Code:`` becomes STD_EXCEPTION.
    """
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for prefix in _PY_PREFIXES:
            if text.startswith(prefix):
                text, changed = text[len(prefix) :], True
    head = _HEAD.match(text)
    if head is None:
        return ClickHouseError(
            CODES["STD_EXCEPTION"], "STD_EXCEPTION", text or "unknown error", 500
        )
    code = int(head.group(1))
    tail_names = _NAME.findall(text[head.end() :])
    message = text
    while (m := _HEAD.match(message)) is not None:
        message = message[m.end() :]
    message = _TAIL.sub("", message).strip() or message
    name = (names or {}).get(code) or (tail_names[-1] if tail_names else "") or "UNKNOWN"
    return ClickHouseError(code, name, message, http_status(name))
