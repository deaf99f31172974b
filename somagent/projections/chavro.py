"""ClickHouse decodes the Avro: raw event bodies into ``events`` rows, no Python decoding.

Events are Avro single-object encoded (``C3 01`` + fingerprint + body). For the
records written with one known writer schema, the bodies are copied, each with a
small prefix (the index of its topic/partition and its Kafka offset) and a
sentinel suffix, into one block of an Avro Object Container File whose schema is
the writer schema wrapped in a ``Row`` record. ClickHouse (chDB) reads that file
with its own Avro reader and computes every ``events`` column in SQL, the payload
JSON included.

Guarantees:

* Byte-identical rows: every column equals what :func:`chproj.event_columns`
  computes from the Python-decoded event (the live projector's path). The
  payload is ``toJSONString`` of the union value with the few differences from
  Python's ``json`` (compact separators, ``ensure_ascii=False``) undone in SQL:
  64-bit integers unquoted, ``/`` unescaped, ``\\u00XX`` escapes in lower case,
  U+2028/U+2029 unescaped, enums as their symbol, and the field renamed to tell
  apart payload records of identical structure restored (see :func:`row_schema`).
* All or nothing per file: a body that does not end exactly before its sentinel
  (trailing or missing bytes), invalid UTF-8 or an enum index out of range makes
  the statement throw before any row is written; the caller then decodes those
  records in Python, which skips exactly the records it cannot decode.
* Schemas this module cannot reproduce byte for byte (floats, bytes, maps,
  nullable records or arrays, unions of several types below the payload) raise
  :class:`Unsupported` up front; the caller keeps the Python path for them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from somagent.projections.chproj import EVENT_COLUMNS

SENTINEL = bytes.fromhex("a55ac33c0ff1ce5a")
SYNC = bytes.fromhex("736f6d6167656e742d63686176726f31")  # 16 bytes, fixed: files are private
_MARK = "__chavro"
_PRIMITIVES = {"null", "boolean", "int", "long", "string"}
_ENVELOPE_TYPES: dict[str, Any] = {
    "ts": "long",
    "seq": "long",
    "session": ["null", "string"],
    "turn": ["null", "string"],
}
_ENVELOPE = ("event_id", "type", "ts", "tenant", "session", "turn", "trace_id", "seq", "producer")
# ClickHouse writes control characters without a short escape (\b \t \n \f \r) as
# \u00XX with upper-case hex digits; Python's json module, lower-case.
_UPPER_ESCAPES = [
    f"00{c:02X}" for c in range(0x20) if c not in (8, 9, 10, 12, 13) and f"{c:02x}" != f"{c:02X}"
]
JSON_SETTINGS = (
    "output_format_json_quote_64bit_integers = 0, "
    "output_format_json_escape_forward_slashes = 0, "
    "output_format_json_named_tuples_as_objects = 1, "
    "output_format_json_validate_utf8 = 0, "
    "input_format_avro_allow_missing_fields = 0"
)


class Unsupported(Exception):
    """The writer schema has a shape whose JSON ClickHouse would not write like Python."""


@dataclass
class RowSchema:
    """The container's ``Row`` schema and the SQL fixes its renames need.

    ``renames`` maps a temporary field name to the real one; ``enums`` maps a
    temporary field name (an enum read as its index) to its real name and symbols.
    """

    schema: dict[str, Any]
    renames: dict[str, str] = field(default_factory=dict)
    enums: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def header(self) -> bytes:
        """The Object Container File header (magic, metadata, sync marker)."""
        text = json.dumps(self.schema, separators=(",", ":")).encode()
        meta = [(b"avro.schema", text), (b"avro.codec", b"null")]
        out = bytearray(b"Obj\x01")
        out += zigzag(len(meta))
        for key, value in meta:
            out += zigzag(len(key)) + key + zigzag(len(value)) + value
        out += zigzag(0) + SYNC
        return bytes(out)


def zigzag(n: int) -> bytes:
    """``n`` as an Avro ``long``: zig-zag, then base-128 varint, low groups first."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z & ~0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def container_parts(header: bytes, count: int, data: bytes | bytearray) -> list[bytes | bytearray]:
    """The pieces of one Object Container File: ``header``, one block of ``count`` rows.

    ``data`` is the block's rows, concatenated; written out in order, the pieces
    are the file (no copy of ``data`` is made).
    """
    return [header, zigzag(count) + zigzag(len(data)), data, SYNC]


def container(header: bytes, count: int, data: bytes | bytearray) -> bytes:
    """One Object Container File as bytes (see :func:`container_parts`)."""
    return b"".join(container_parts(header, count, data))


def row_schema(writer: dict[str, Any]) -> RowSchema:
    """The ``Row`` schema around ``writer`` (the envelope, logical types stripped).

    Row = ``_tp`` fixed(2) (little-endian index of the record's topic/partition),
    ``_offset`` fixed(8) (little-endian Kafka offset), the envelope's fields, and
    ``_end`` fixed(8), always :data:`SENTINEL`. Raises :class:`Unsupported`.
    """
    env = _strip(copy.deepcopy(writer))
    if env.get("type") != "record" or tuple(f["name"] for f in env["fields"]) != (
        *_ENVELOPE,
        "payload",
    ):
        raise Unsupported("not the envelope record")
    used = json.dumps(env)
    if _MARK in used:
        raise Unsupported(f"a name contains {_MARK}")
    out = RowSchema(schema={})
    payload = env["fields"][-1]["type"]
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        raise Unsupported("payload is not a union of inline records")
    shapes: set[str] = set()
    for record in payload:
        _check_record(record, out)
        shape = json.dumps(_shape(record))
        if shape in shapes:  # ClickHouse's Variant would merge the two branches
            last = record["fields"][-1]
            new = f"{last['name']}{_MARK}{len(out.renames) + len(out.enums)}"
            out.renames[new] = last["name"]
            last["name"] = new
        shapes.add(shape)
    for fld in env["fields"][:-1]:
        if fld["type"] != _ENVELOPE_TYPES.get(fld["name"], "string"):
            raise Unsupported(f"envelope field {fld['name']}: {fld['type']}")
    out.schema = {
        "type": "record",
        "name": "Row",
        "namespace": "somagent.chavro",
        "fields": [
            {"name": "_tp", "type": {"type": "fixed", "name": "TopicPart", "size": 2}},
            {"name": "_offset", "type": {"type": "fixed", "name": "Offset", "size": 8}},
            *env["fields"],
            {"name": "_end", "type": {"type": "fixed", "name": "End", "size": 8}},
        ],
    }
    return out


def _shape(kind: Any) -> Any:
    """What ClickHouse's type for ``kind`` depends on: field names and types, not type names."""
    if isinstance(kind, list):
        return [_shape(k) for k in kind]
    if isinstance(kind, dict) and kind.get("type") == "record":
        return [[f["name"], _shape(f["type"])] for f in kind["fields"]]
    if isinstance(kind, dict) and kind.get("type") == "array":
        return ["array", _shape(kind["items"])]
    return kind


def _strip(node: Any) -> Any:
    """``node`` without logical types; ``{"type": "string"}`` becomes ``"string"``."""
    if isinstance(node, dict):
        out = {k: _strip(v) for k, v in node.items() if k != "logicalType"}
        return out["type"] if set(out) == {"type"} and isinstance(out["type"], str) else out
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _check_record(record: dict[str, Any], out: RowSchema) -> None:
    if record.get("type") != "record":
        raise Unsupported(f"not a record: {record}")
    for fld in record["fields"]:
        kind = fld["type"]
        nullable = isinstance(kind, list) and len(kind) == 2 and "null" in kind
        inner = next(k for k in kind if k != "null") if nullable else kind
        if isinstance(inner, dict) and inner.get("type") == "enum":
            new = f"{fld['name']}{_MARK}{len(out.renames) + len(out.enums)}"
            out.enums[new] = (fld["name"], tuple(inner["symbols"]))
            fld["name"] = new
            fld.pop("default", None)  # a symbol; the field is read as its index now
            fld["type"] = ["null", "int"] if nullable else "int"
            if nullable and kind[0] != "null":
                fld["type"] = ["int", "null"]
        elif nullable:
            if not (isinstance(inner, str) and inner in _PRIMITIVES):  # no Nullable(Tuple)
                raise Unsupported(f"nullable {inner} in {record.get('name')}")
        else:
            _check_type(inner, out, record.get("name", "?"))


def _check_type(kind: Any, out: RowSchema, where: str) -> None:
    if isinstance(kind, str):
        if kind not in _PRIMITIVES - {"null"}:
            raise Unsupported(f"type {kind} in {where}")
    elif isinstance(kind, dict) and kind.get("type") == "record":
        _check_record(kind, out)
    elif isinstance(kind, dict) and kind.get("type") == "array":
        items = kind["items"]
        if isinstance(items, dict) and items.get("type") == "enum":
            raise Unsupported(f"array of enums in {where}")
        _check_type(items, out, where)
    else:
        raise Unsupported(f"type {kind} in {where}")


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _key(name: str) -> str:
    return '"' + name + '":'


def payload_sql(rows: RowSchema, json_expr: str = "toJSONString(payload)") -> list[str]:
    """``WITH`` items ending in ``_j``: the payload JSON exactly as Python writes it."""
    items = [f"{json_expr} AS _j0"]
    cur = "_j0"
    for i, (tmp, real) in enumerate(rows.renames.items()):
        items.append(f"replaceAll({cur}, {_lit(_key(tmp))}, {_lit(_key(real))}) AS _r{i}")
        cur = f"_r{i}"
    for i, (tmp, (real, symbols)) in enumerate(rows.enums.items()):
        expr = f"replaceAll({cur}, {_lit(_key(tmp) + 'null')}, {_lit(_key(real) + 'null')})"
        for index, symbol in enumerate(symbols):
            pattern = _lit(_key(tmp) + str(index) + "([,}])")
            replacement = _lit(_key(real) + '"' + symbol + '"' + "\\1")
            expr = f"replaceRegexpAll({expr}, {pattern}, {replacement})"
        items.append(f"if(position({cur}, {_lit(_key(tmp))}) > 0, {expr}, {cur}) AS _e{i}")
        cur = f"_e{i}"
    items.append(
        f"if(position({cur}, {_lit(BACKSLASH + 'u')}) > 0, {_escape_fix(cur)}, {cur}) AS _j"
    )
    return items


BACKSLASH = "\\"
_PLACEHOLDER = "\\x01"  # SQL text for byte 0x01, which JSON output never holds raw


def _escape_fix(cur: str) -> str:
    """``cur`` with ClickHouse's JSON escapes rewritten as Python's ``json`` writes them.

    Escaped backslashes are set aside first (left to right, as a parser pairs
    them), so every ``\\u`` left is a real escape.
    """
    expr = f"replaceAll({cur}, {_lit(BACKSLASH * 2)}, '{_PLACEHOLDER}')"
    for code in _UPPER_ESCAPES:
        upper, lower = _lit(BACKSLASH + "u" + code), _lit(BACKSLASH + "u" + code.lower())
        expr = f"replaceAll({expr}, {upper}, {lower})"
    for code, raw in (("2028", "\\xE2\\x80\\xA8"), ("2029", "\\xE2\\x80\\xA9")):
        expr = f"replaceAll({expr}, {_lit(BACKSLASH + 'u' + code)}, '{raw}')"
    return f"replaceAll({expr}, '{_PLACEHOLDER}', {_lit(BACKSLASH * 2)})"


def valid_sql(rows: RowSchema) -> str:
    """True for a row Python would decode exactly as ClickHouse did."""
    checks = [
        f"reinterpretAsUInt64(_end) = {int.from_bytes(SENTINEL, 'little')}",
        "isValidUTF8(_j)",
    ]
    checks += [f"isValidUTF8({c})" for c in ("event_id", "type", "tenant", "trace_id", "producer")]
    checks += ["isValidUTF8(ifNull(session, ''))", "isValidUTF8(ifNull(turn, ''))"]
    checks += [f"position(_j, {_lit(_key(tmp))}) = 0" for tmp in rows.enums]
    return " AND ".join(checks)


def insert_sql(
    rows: RowSchema, table: str, path: str | None, parts: Sequence[tuple[str, int]]
) -> str:
    """``INSERT INTO table`` of every row of the container at ``path``, or none.

    ``path=None`` reads the container from the request body instead
    (``FROM input() ... FORMAT Avro``, the analytics service's HTTP interface).
    ``parts[i]`` is the (topic, partition) of rows whose ``_tp`` is ``i``.
    """
    topics = "[" + ",".join(_lit(t) for t, _ in parts) + "]"
    numbers = "[" + ",".join(str(p) for _, p in parts) + "]"
    with_items = ", ".join(payload_sql(rows))
    source = "input()" if path is None else f"file({_lit(path)}, 'Avro')"
    tail = " FORMAT Avro" if path is None else ""
    values = (
        "event_id, type, ts, tenant, ifNull(session, ''), ifNull(turn, ''), trace_id, seq, "
        f"producer, arrayElement(CAST({topics}, 'Array(String)'), _i + 1), "
        f"arrayElement(CAST({numbers}, 'Array(Int32)'), _i + 1), "
        "reinterpretAsInt64(_offset), _j"
    )
    guard = (
        f"throwIf(NOT ({valid_sql(rows)}) OR _i >= {len(parts)}, "
        "'somagent.chavro: a record needs the Python decoder')"
    )
    return (
        f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) "
        f"WITH reinterpretAsUInt16(_tp) AS _i, {with_items} "
        f"SELECT {values} FROM {source} WHERE {guard} = 0 "
        f"SETTINGS {JSON_SETTINGS}{tail}"
    )
