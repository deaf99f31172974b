"""Pure parts of ClickHouse-side Avro decoding: the Row schema, the container, the split.

The container is checked with fastavro's own Object Container File reader, an
independent implementation, so a malformed header or block would fail here
before ClickHouse ever sees it.
"""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest
from confluent_kafka import Message
from fastavro import reader as ocf_reader
from fastavro import schemaless_writer

from somagent.events.codec import HEADER_SIZE, EventCodec
from somagent.events.examples import example_events
from somagent.events.plain import PlainDecoder
from somagent.projections import chavro
from somagent.projections.chreplay import Splitter


def _codec() -> EventCodec:
    return EventCodec()


@pytest.mark.parametrize("n", [0, 1, -1, 63, 64, -65, 300, 2**31, -(2**40), 2**63 - 1, -(2**63)])
def test_zigzag_is_avro_long_encoding(n: int) -> None:
    out = io.BytesIO()
    schemaless_writer(out, "long", n)
    assert chavro.zigzag(n) == out.getvalue()


def test_row_schema_tells_apart_identical_payload_records_and_reads_enums_as_indexes() -> None:
    rows = chavro.row_schema(_codec().writer.schema)
    assert list(rows.renames.values()) == ["reason"]  # MemoryRemembered == ...Requested
    assert [(real, symbols) for real, symbols in rows.enums.values()] == [
        ("memory_mode", ("none", "read", "readwrite"))
    ]
    names = [f["name"] for f in rows.schema["fields"]]
    assert names[:2] == ["_tp", "_offset"] and names[-1] == "_end"
    assert rows.header.startswith(b"Obj\x01") and rows.header.endswith(chavro.SYNC)


def _with_payload_field(field: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(_codec().writer.schema)
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    payload["type"][0]["fields"].append(field)
    return schema


@pytest.mark.parametrize(
    "kind",
    [
        "double",
        "bytes",
        {"type": "map", "values": "string"},
        ["null", {"type": "array", "items": "string"}],
        ["null", "string", "long"],
        {"type": "array", "items": {"type": "enum", "name": "E", "symbols": ["a"]}},
    ],
)
def test_shapes_clickhouse_would_write_differently_are_refused(kind: Any) -> None:
    with pytest.raises(chavro.Unsupported):
        chavro.row_schema(_with_payload_field({"name": "extra", "type": kind}))


def test_a_name_holding_the_marker_is_refused() -> None:
    with pytest.raises(chavro.Unsupported):
        chavro.row_schema(_with_payload_field({"name": "x__chavro0", "type": "string"}))


def _restore(payload: dict[str, Any], rows: chavro.RowSchema) -> dict[str, Any]:
    out = {}
    for key, value in payload.items():
        if key in rows.enums:
            real, symbols = rows.enums[key]
            out[real] = None if value is None else symbols[value]
        else:
            out[rows.renames.get(key, key)] = value
    return out


def test_the_container_reads_back_with_fastavro_as_the_python_decoder_reads_the_events() -> None:
    codec = _codec()
    rows = chavro.row_schema(codec.writer.schema)
    encoded = [codec.encode(e) for seed in range(2) for e in example_events(seed)]
    parts = [("conversation.events", 3), ("billing.usage", 0)]
    data = bytearray()
    for i, raw in enumerate(encoded):
        data += (i % 2).to_bytes(2, "little") + (1000 + i).to_bytes(8, "little")
        data += raw[HEADER_SIZE:] + chavro.SENTINEL
    got = list(ocf_reader(io.BytesIO(chavro.container(rows.header, len(encoded), data))))
    plain = PlainDecoder(codec)
    assert len(got) == len(encoded)
    for i, (row, raw) in enumerate(zip(got, encoded, strict=True)):
        assert isinstance(row, dict)
        expected = plain.decode(raw, None)  # type: ignore[arg-type]
        assert parts[int.from_bytes(row.pop("_tp"), "little")] == parts[i % 2]
        assert int.from_bytes(row.pop("_offset"), "little") == 1000 + i
        assert row.pop("_end") == chavro.SENTINEL
        row["payload"] = _restore(row["payload"], rows)
        assert row == expected


def test_the_splitter_keeps_known_records_below_the_ends_and_passes_on_the_rest() -> None:
    codec = _codec()
    events = example_events(1)
    good = [codec.encode(e) for e in events[:3]]
    foreign = b"\xc3\x01" + b"\x00" * 8 + good[0][HEADER_SIZE:]
    messages = [
        Message(topic="a", partition=0, offset=0, value=good[0]),
        Message(topic="b", partition=2, offset=7, value=good[1]),
        Message(topic="a", partition=0, offset=1, value=foreign),
        Message(topic="a", partition=0, offset=2, value=None),
        Message(topic="a", partition=0, offset=3, value=good[2]),  # at the end: left out
    ]
    batch = Splitter(codec.fingerprint, {("a", 0): 3, ("b", 2): 8}).split(messages)
    assert batch.parts == [("a", 0), ("b", 2)]
    assert batch.rows == 2 and [m.offset() for m in batch.fast] == [0, 7]
    assert [m.offset() for m in batch.other] == [1, 2]
    row0 = (0).to_bytes(2, "little") + (0).to_bytes(8, "little") + good[0][HEADER_SIZE:]
    row1 = (1).to_bytes(2, "little") + (7).to_bytes(8, "little") + good[1][HEADER_SIZE:]
    assert bytes(batch.data) == row0 + chavro.SENTINEL + row1 + chavro.SENTINEL
