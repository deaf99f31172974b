"""The single-object codec, without a broker: bytes, errors, evolution."""

from __future__ import annotations

import copy
import io
import uuid
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.contract.envelope import plain
from somagent.events import schemas
from somagent.events.codec import HEADER_SIZE, MAGIC, EventCodec
from somagent.events.envelope import make_event
from somagent.events.examples import example_events
from somagent.events.exceptions import (
    CorruptBody,
    EncodeError,
    NotSingleObject,
    UnknownEventType,
    UnknownFingerprint,
    Where,
)
from somagent.events.registry import SchemaRegistry

EVENTS = example_events(7)


def _record(env: dict[str, Any], name: str) -> dict[str, Any]:
    for branch in env["fields"][-1]["type"]:
        if isinstance(branch, dict) and branch["name"] == name:
            return branch
    raise KeyError(name)


def v2_schema() -> dict[str, Any]:
    """The working envelope plus TurnRequested.priority (int, default 5)."""
    env = schemas.envelope_schema()
    _record(env, "TurnRequested")["fields"].append(
        {"name": "priority", "type": "int", "default": 5, "doc": "scheduling priority"}
    )
    return env


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec()


@pytest.mark.parametrize("event", EVENTS, ids=[e["type"] for e in EVENTS])
def test_round_trip_is_byte_exact_with_fastavro(codec: EventCodec, event: dict[str, Any]) -> None:
    data = codec.encode(event)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == schemas.fingerprint(schemas.envelope_schema())
    # The body is exactly fastavro's own schemaless encoding.
    expected = io.BytesIO()
    record = dict(event, payload=(f"somagent.{event['type']}", event["payload"]))
    schemaless_writer(expected, parse_schema(schemas.envelope_schema()), record)
    assert data[HEADER_SIZE:] == expected.getvalue()
    theirs = schemaless_reader(
        io.BytesIO(data[HEADER_SIZE:]), parse_schema(schemas.envelope_schema())
    )
    ours = codec.decode(data)
    assert ours == theirs
    assert plain(ours) == plain(event)


def test_decoded_types(codec: EventCodec) -> None:
    out = codec.decode(codec.encode(EVENTS[0]))
    assert isinstance(out["event_id"], uuid.UUID)
    assert out["ts"].tzinfo is not None


WHERE = Where("conversation.events", 2, 41)


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", NotSingleObject, "0 bytes"),
        (b"garbage bytes that are not avro", NotSingleObject, "C3 01"),
        (MAGIC + b"\x01\x02", NotSingleObject, "fingerprint"),
    ],
)
def test_not_single_object(codec: EventCodec, data: bytes, error: type, words: str) -> None:
    with pytest.raises(error) as info:
        codec.decode(data, WHERE)
    assert words in str(info.value)
    assert "topic=conversation.events partition=2 offset=41" in str(info.value)


def test_truncated_body(codec: EventCodec) -> None:
    data = codec.encode(EVENTS[2])
    for cut in (HEADER_SIZE, HEADER_SIZE + 5, len(data) - 1):
        with pytest.raises(CorruptBody) as info:
            codec.decode(data[:cut], WHERE)
        assert info.value.reason == "corrupt-body"
        assert info.value.where == WHERE


def test_trailing_bytes_are_corruption(codec: EventCodec) -> None:
    with pytest.raises(CorruptBody, match="trailing"):
        codec.decode(codec.encode(EVENTS[0]) + b"\x00", WHERE)


def test_unknown_fingerprint(codec: EventCodec) -> None:
    data = codec.encode(EVENTS[0])
    bad = data[:2] + bytes(8) + data[HEADER_SIZE:]
    with pytest.raises(UnknownFingerprint, match="0000000000000000") as info:
        codec.decode(bad, WHERE)
    assert "offset=41" in str(info.value)


def test_encode_rejects_unknown_type_and_missing_field(codec: EventCodec) -> None:
    with pytest.raises(EncodeError, match="NoSuchThing"):
        codec.encode(dict(EVENTS[0], type="NoSuchThing"))
    broken = copy.deepcopy(EVENTS[2])
    del broken["payload"]["text"]
    with pytest.raises(EncodeError, match="TurnRequested"):
        codec.encode(broken)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("tenant", "not-a-uuid"),
        ("session", 42),
        ("payload.turn_id", "1234"),
        ("payload", None),
        ("trace_id", "trace-1"),
        ("trace_id", "0" * 32),
        ("trace_id", "4BF92F3577B34DA6A3CE929D0E0E4736"),
    ],
)
def test_encode_rejects_what_readers_could_not_read(
    codec: EventCodec, where: str, value: Any
) -> None:
    event = copy.deepcopy(next(e for e in EVENTS if e["type"] == "TurnRequested"))
    if where.startswith("payload."):
        event["payload"][where.split(".")[1]] = value
    else:
        event[where] = value
    with pytest.raises(EncodeError, match=where.replace(".", r"\.")):
        codec.encode(event)


def test_uuid_fields_accept_strings(codec: EventCodec) -> None:
    event = plain(EVENTS[2])  # every UUID as a string, every time as an int
    assert plain(codec.decode(codec.encode(event))) == event


def test_v2_reads_v1_and_v1_reads_v2() -> None:
    registry = SchemaRegistry()
    v1 = EventCodec(registry)
    v2 = EventCodec(registry, writer=v2_schema())
    assert v1.fingerprint != v2.fingerprint
    requested = next(e for e in EVENTS if e["type"] == "TurnRequested")
    # v2 reader, v1 data: the added field takes its default.
    got = v2.decode(v1.encode(requested))
    assert got["payload"]["priority"] == 5
    assert plain(got["payload"]) == dict(plain(requested["payload"]), priority=5)
    # v1 reader, v2 data: the added field is skipped.
    newer = copy.deepcopy(requested)
    newer["payload"]["priority"] = 9
    got = v1.decode(v2.encode(newer))
    assert "priority" not in got["payload"]
    assert plain(got) == plain(requested)


def test_old_reader_meets_new_event_type() -> None:
    env = schemas.envelope_schema()
    env["fields"][-1]["type"].append(
        {"type": "record", "name": "TurnPaused", "namespace": "somagent", "doc": "x",
         "fields": [{"name": "why", "type": "string", "doc": "x"}]}
    )  # fmt: skip
    registry = SchemaRegistry()
    old = EventCodec(registry)
    new = EventCodec(registry, writer=env)
    event = make_event("TurnPaused", {"why": "test"}, tenant=uuid.uuid4(), producer="t")
    with pytest.raises(UnknownEventType, match="TurnPaused"):
        old.decode(new.encode(event), WHERE)
    # Known types written by the new schema still read fine.
    assert plain(old.decode(new.encode(EVENTS[0]))) == plain(EVENTS[0])


def test_reader_schema_differs_from_writer() -> None:
    registry = SchemaRegistry()
    writer = EventCodec(registry)
    reader = EventCodec(registry, writer=v2_schema(), reader=v2_schema())
    requested = next(e for e in EVENTS if e["type"] == "TurnRequested")
    assert reader.decode(writer.encode(requested))["payload"]["priority"] == 5


longs = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(max_size=200),
    citations=st.lists(st.text(max_size=20), max_size=5),
    tokens_in=longs,
    tokens_out=longs,
    seq=longs,
    ts=st.integers(min_value=0, max_value=253_402_300_799_999_999),  # through 9999-12-31
)
def test_round_trip_property(
    text: str, citations: list[str], tokens_in: int, tokens_out: int, seq: int, ts: int
) -> None:
    codec = EventCodec()
    event = make_event(
        "TurnAnswered",
        {"text": text, "citations": citations, "tokens_in": tokens_in, "tokens_out": tokens_out},
        tenant=uuid.uuid4(),
        producer="prop",
        seq=seq,
        ts_us=ts,
    )
    assert plain(codec.decode(codec.encode(event))) == plain(event)
