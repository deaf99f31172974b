"""ClickHouse decoding the Avro writes exactly the rows the Python decoder writes.

Runs on the session's chDB, in tables of its own (suffixes ``_chavro_e`` and
``_chavro_p``); no Kafka: the raw records are built here, as the log holds them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message

from somagent.config import Settings
from somagent.events.codec import HEADER_SIZE, EventCodec
from somagent.events.examples import example_events
from somagent.events.plain import PlainDecoder
from somagent.kafka.reader import LogReader
from somagent.kafka.records import Record
from somagent.projections import chavro, chproj
from somagent.projections.chreplay import AvroInserter, RawBatch, Splitter
from somagent.projections.clickhouse import ClickHouse, connect

pytestmark = pytest.mark.integration

TOPIC = "conversation.events"
# Every control character, both line separators, quotes, backslashes (alone and
# before a 'u', as text), '/', non-BMP, and text that looks like an escape.
NASTY = (
    "".join(chr(c) for c in range(0x20))
    + "\x7f\x80\x9f\xa0\u2028\u2029\ufeff\ufffd\U0001f600\U0010ffff"
    + '/</script>\\"\'\\u000B\\\\u2028\\\u000b"reason__chavro1":0}'
)
# Payload fields of Avro type uuid: text there is refused by the codec, not stored.
UUID_FIELDS = ("session_id", "turn_id", "usage_id")


@pytest.fixture()
def tables(settings: Settings) -> Iterator[tuple[ClickHouse, Any, Any]]:
    ch = connect(settings)
    engine = chproj.ClickHouseProjector(ch, name="chavro-e", suffix="_chavro_e")
    python = chproj.ClickHouseProjector(ch, name="chavro-p", suffix="_chavro_p")
    engine.ensure_tables(fresh=True)
    python.ensure_tables(fresh=True)
    yield ch, engine, python


def _events() -> list[dict[str, Any]]:
    events = [e for seed in range(3) for e in example_events(seed)]
    for i, event in enumerate(events):
        payload = event["payload"]
        for key, value in payload.items():
            if isinstance(value, str) and i % 3 == 0 and key not in UUID_FIELDS:
                payload[key] = NASTY + value
        if event["type"] == "TurnRequested":
            payload["memory_mode"] = ("none", "read", "readwrite")[i % 3]
            payload["idempotency_key"] = None if i % 2 else NASTY
    return events


def _container(codec: EventCodec, raws: list[bytes], path: Path) -> chavro.RowSchema:
    rows = chavro.row_schema(codec.writer.schema)
    data = bytearray()
    for offset, raw in enumerate(raws):
        data += (0).to_bytes(2, "little") + offset.to_bytes(8, "little")
        data += raw[HEADER_SIZE:] + chavro.SENTINEL
    path.write_bytes(chavro.container(rows.header, len(raws), data))
    return rows


def test_engine_rows_equal_python_rows_for_every_type_and_nasty_text(
    tables: tuple[ClickHouse, Any, Any],
) -> None:
    ch, engine, python = tables
    codec = EventCodec()
    raws = [codec.encode(e) for e in _events()]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.avro"
        rows = _container(codec, raws, path)
        ch.execute(chavro.insert_sql(rows, engine.events_table, str(path), [(TOPIC, 4)]))
    plain = PlainDecoder(codec)
    records = [Record(TOPIC, 4, i, plain.decode(raw, None)) for i, raw in enumerate(raws)]  # type: ignore[arg-type]
    python.apply(records, {})
    got, want = engine.row_hashes(), python.row_hashes()
    assert len(got) == len(raws) and got == want
    assert engine.usage_totals() == python.usage_totals() != []


def _corrupt(raw: bytes, how: str) -> bytes:
    if how == "trailing byte":
        return raw + b"\x00"
    if how == "missing byte":
        return raw[:-1]
    if how == "invalid utf-8":
        at = raw.index(b"What did we decide")
        return raw[:at] + b"\xff" + raw[at + 1 :]
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["trailing byte", "missing byte", "invalid utf-8", "enum index out of range"]
)
def test_a_record_python_would_refuse_makes_the_whole_insert_refuse(
    tables: tuple[ClickHouse, Any, Any], how: str
) -> None:
    ch, engine, _ = tables
    codec = EventCodec()
    events = example_events(5)
    raws = [codec.encode(e) for e in events]
    at = next(i for i, e in enumerate(events) if e["type"] == "TurnRequested")
    if how == "enum index out of range":
        raws[at] = _with_enum_index(raws[at], 7)
    else:
        raws[at] = _corrupt(raws[at], how)
    with pytest.raises(Exception):  # noqa: B017  (chDB raises its own error type)
        PlainDecoder(codec).decode(raws[at], None)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.avro"
        rows = _container(codec, raws, path)
        with pytest.raises(Exception, match=r"Python decoder|Avro|AVRO|out_of_range|key not found"):
            ch.execute(chavro.insert_sql(rows, engine.events_table, str(path), [(TOPIC, 0)]))
    assert engine.row_hashes() == {}


def _with_enum_index(raw: bytes, index: int) -> bytes:
    """``raw`` with the TurnRequested enum's index byte replaced (indexes < 64: one byte)."""
    symbols = ("none", "read", "readwrite")
    codec = EventCodec()
    event = codec.decode(raw)
    mode = event["payload"]["memory_mode"]
    event["payload"]["memory_mode"] = symbols[(symbols.index(mode) + 1) % 3]
    changed = codec.encode(event)
    diff = [i for i, (a, b) in enumerate(zip(raw, changed, strict=True)) if a != b]
    assert len(diff) == 1
    return raw[: diff[0]] + bytes([index * 2]) + raw[diff[0] + 1 :]


def test_a_refused_batch_is_decoded_in_python_and_still_equals_the_python_rows(
    settings: Settings, tables: tuple[ClickHouse, Any, Any]
) -> None:
    _, engine, python = tables
    codec = EventCodec()
    events = _events()
    raws = [codec.encode(e) for e in events]
    raws[4] = raws[4] + b"\x00"  # Python skips this one; ClickHouse refuses the batch
    messages = [Message(topic=TOPIC, partition=1, offset=i, value=r) for i, r in enumerate(raws)]
    ends = {(TOPIC, 1): len(raws)}
    reader = LogReader(
        settings, [(TOPIC, 1)], {}, name="chavro-test", codec=codec, dead_letters=False
    )
    inserter = AvroInserter(engine, chavro.row_schema(codec.writer.schema), reader)
    try:
        batch: RawBatch = Splitter(codec.fingerprint, ends).split(messages)
        batch.positions = dict(ends)
        assert inserter.insert(batch) == len(raws) - 1 and inserter.fallbacks == 1
        python.apply(reader.decode_messages(messages), ends)
    finally:
        inserter.close()
        reader.close()
    assert engine.row_hashes() == python.row_hashes()
    assert engine.positions() == {(TOPIC, 1): len(raws)}
