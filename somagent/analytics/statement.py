"""Where an INSERT's data begins, found the way ClickHouse's parser finds it.

ClickHouse's HTTP interface reads one text: the ``query`` parameter, a line
break, then the request body. For ``INSERT ... FORMAT <name>`` the data follows
the format name: after any spaces/tabs, then one ``\\r`` and one ``\\n`` if present
(ParserInsertQuery). :func:`split_insert` finds that point without decoding or
scanning the data. It lexes only the statement head (strings, quoted
identifiers, ``$$`` heredocs, ``--``/``#``/``/* */`` comments and brackets are
skipped), so a ``FORMAT`` inside a literal, a comment or brackets is never taken
for the clause.

:func:`input_call` finds the one ``input('<structure>')`` table function of an
``INSERT ... SELECT ... FROM input(...)`` head, which the service replaces by a
read of the request body. Pure, no I/O. The engine still parses every statement;
these functions only decide where the data starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from somagent.analytics.errors import error

_SPACE = b" \t\n\r\f\v"
_OPEN = b"([{"
_CLOSE = b")]}"


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, qident, punct
    start: int
    end: int


@dataclass(frozen=True)
class InsertSplit:
    """An ``INSERT ... FORMAT <format>`` statement: ``head`` (without the FORMAT
    clause), the format name and the offset in the text where the data starts."""

    head: str
    format: str
    data_start: int


def _skip_comment(text: bytes, i: int) -> int:
    if text.startswith(b"--", i) or text[i : i + 1] == b"#":
        end = text.find(b"\n", i)
        return len(text) if end < 0 else end + 1
    depth, i = 1, i + 2
    while i < len(text) and depth:
        if text.startswith(b"/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith(b"*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _quoted_end(text: bytes, i: int) -> int:
    """End of the quoted token opening at ``i``; -1 if it is not closed."""
    quote = text[i]
    i += 1
    while i < len(text):
        c = text[i]
        if c == 0x5C:  # backslash escape
            i += 2
        elif c == quote:
            if text[i + 1 : i + 2] == bytes([quote]):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return -1


def _heredoc_end(text: bytes, i: int) -> int:
    tag_end = text.find(b"$", i + 1)
    tag = text[i : tag_end + 1]
    if tag_end < 0 or not all(chr(c).isalnum() or c == 0x5F for c in tag[1:-1]):
        return -2  # not a heredoc: a plain '$'
    close = text.find(tag, tag_end + 1)
    return -1 if close < 0 else close + len(tag)


def _word_end(text: bytes, i: int) -> int:
    while i < len(text) and (chr(text[i]).isalnum() or text[i] in b"_$" or text[i] >= 0x80):
        i += 1
    return i


def tokens(text: bytes) -> Iterator[Token]:
    """Significant tokens of ``text``; stops at an unterminated literal."""
    i = 0
    while i < len(text):
        c = text[i]
        if c in _SPACE:
            i += 1
            continue
        if text.startswith((b"--", b"/*"), i) or c == 0x23:
            i = _skip_comment(text, i)
            continue
        if c in b"'\"`":
            end = _quoted_end(text, i)
            if end < 0:
                return
            yield Token("string" if c == 0x27 else "qident", i, end)
        elif c == 0x24 and (end := _heredoc_end(text, i)) != -2:
            if end < 0:
                return
            yield Token("string", i, end)
        elif chr(c).isalpha() or c == 0x5F or c >= 0x80:
            end = _word_end(text, i)
            yield Token("word", i, end)
        else:
            end = i + 1
            yield Token("punct", i, end)
        i = end


def _word(text: bytes, tok: Token) -> str:
    return (
        text[tok.start : tok.end].decode("utf-8", "replace").upper() if tok.kind == "word" else ""
    )


def split_insert(text: bytes) -> InsertSplit | None:
    """The split of an ``INSERT ... FORMAT <name>`` statement, or None for anything else.

    Raises:
        ClickHouseError: SYNTAX_ERROR for ``;`` right after the format name (as ClickHouse),
            or a head that is not UTF-8.
    """
    stream = tokens(text)
    first = next(stream, None)
    if first is None or _word(text, first) != "INSERT":
        return None
    depth = 0
    for tok in stream:
        if tok.kind == "punct" and text[tok.start] in _OPEN:
            depth += 1
        elif tok.kind == "punct" and text[tok.start] in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0 and _word(text, tok) == "FORMAT":
            name = next(stream, None)
            if name is None or name.kind not in ("word", "qident"):
                return None
            return _split_at(text, tok, name)
    return None


def _split_at(text: bytes, keyword: Token, name: Token) -> InsertSplit:
    data = name.end
    if text[data : data + 1] == b";":
        raise error(
            "SYNTAX_ERROR",
            "You have excessive ';' symbol before data for INSERT: put at least one "
            "whitespace symbol between the format name and the data",
        )
    while data < len(text) and text[data] in b" \t\f":
        data += 1
    if text[data : data + 1] == b"\r":
        data += 1
    if text[data : data + 1] == b"\n":
        data += 1
    raw_name = text[name.start : name.end]
    if name.kind == "qident":
        raw_name = raw_name[1:-1]
    try:
        head = text[: keyword.start].decode("utf-8").rstrip()
        fmt = raw_name.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error("SYNTAX_ERROR", f"the INSERT statement is not valid UTF-8: {exc}") from exc
    return InsertSplit(head=head, format=fmt, data_start=data)


@dataclass(frozen=True)
class InputCall:
    """The span of ``input(<structure literal>)`` in a statement, and that literal's text
    (empty for ``input()``: the structure is inferred from the data)."""

    start: int
    end: int
    structure: str


def input_calls(head: str) -> list[InputCall]:
    """Every ``input('<structure>')`` (or ``input()``) call in ``head`` (character offsets)."""
    raw = head.encode("utf-8")
    toks = list(tokens(raw))
    found = []
    for i, tok in enumerate(toks[:-2]):
        if tok.kind != "word" or raw[tok.start : tok.end].lower() != b"input":
            continue
        if raw[toks[i + 1].start : toks[i + 1].end] != b"(":
            continue
        after = toks[i + 2 : i + 4]
        if raw[after[0].start : after[0].end] == b")":  # input(): the structure is inferred
            close, text = after[0], ""
        elif len(after) == 2 and after[0].kind == "string" and raw[after[1].start] == 0x29:
            close, text = after[1], raw[after[0].start : after[0].end].decode("utf-8")
        else:
            continue
        start = len(raw[: tok.start].decode("utf-8"))
        end = len(raw[: close.end].decode("utf-8"))
        found.append(InputCall(start, end, text))
    return found
