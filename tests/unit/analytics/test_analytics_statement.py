"""Where an INSERT's data starts; the input() call of an INSERT ... SELECT."""

from __future__ import annotations

import pytest

from somagent.analytics.exceptions import ClickHouseError
from somagent.analytics.statement import input_calls, split_insert


def test_data_starts_after_the_format_name_line() -> None:
    text = b"INSERT INTO t FORMAT CSV\n1,a\n"
    split = split_insert(text)
    assert split is not None and (split.head, split.format) == ("INSERT INTO t", "CSV")
    assert text[split.data_start :] == b"1,a\n"
    same_line = b'insert into t (a, b) format JSONEachRow  {"a":1}'
    got = split_insert(same_line)
    assert got is not None and same_line[got.data_start :] == b'{"a":1}'
    crlf = b"INSERT INTO t FORMAT TSV \r\n\n2\n"
    got = split_insert(crlf)
    assert got is not None and crlf[got.data_start :] == b"\n2\n"  # one line break only


def test_binary_data_is_never_scanned() -> None:
    native = b"INSERT INTO t (a) FORMAT Native\n" + bytes(range(256)) * 10
    split = split_insert(native)
    assert split is not None and native[split.data_start :] == bytes(range(256)) * 10
    assert split_insert(b"INSERT INTO t FORMAT Native\n\n\x00'\"") is not None


def test_format_inside_literals_comments_and_brackets_is_not_the_clause() -> None:
    text = (
        b'-- FORMAT CSV\nINSERT /* FORMAT X */ INTO t (`format`, "FORMAT") '
        b"SETTINGS a = 'FORMAT b' "
        b"SELECT f FROM input('format String, x Int8') FORMAT `Avro`\n\x01"
    )
    split = split_insert(text)
    assert split is not None and split.format == "Avro" and text[split.data_start :] == b"\x01"
    assert split.head.endswith("input('format String, x Int8')")


def test_not_an_insert_with_data() -> None:
    assert split_insert(b"SELECT 1 FORMAT JSON") is None
    assert split_insert(b"INSERT INTO t VALUES (1)") is None
    assert split_insert(b"INSERT INTO t SELECT 'unterminated") is None
    assert split_insert(b"") is None
    with pytest.raises(ClickHouseError) as semicolon:
        split_insert(b"INSERT INTO t FORMAT CSV;1,2")
    assert semicolon.value.name == "SYNTAX_ERROR"


def test_input_calls() -> None:
    head = "INSERT INTO t SELECT x FROM input('x Int64, y String')"
    [call] = input_calls(head)
    assert head[call.start : call.end] == "input('x Int64, y String')"
    assert call.structure == "'x Int64, y String'"
    [bare] = input_calls("INSERT INTO t SELECT * FROM INPUT ( )")
    assert bare.structure == ""
    assert input_calls("SELECT input, 'input(1)' FROM t") == []
    assert (
        len(input_calls("SELECT * FROM input('a Int8') UNION ALL SELECT * FROM input('b Int8')"))
        == 2
    )
