"""Every record type through a real broker, byte-checked against fastavro."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Message
from fastavro import parse_schema, schemaless_reader

from somagent.config import Settings
from somagent.contract.envelope import plain
from somagent.events import catalog, schemas, tracing
from somagent.events.catalog import Topic
from somagent.events.codec import HEADER_SIZE, EventCodec
from somagent.events.examples import example_events
from somagent.kafka.admin import ensure_topics
from somagent.kafka.consumer import EventConsumer
from somagent.kafka.producer import EventProducer
from somagent.kafka.reader import LogReader
from somagent.kafka.records import Received, record_headers
from somagent.kafka.schema_log import kafka_registry

pytestmark = pytest.mark.integration


def fresh_topic(settings: Settings, prefix: str, partitions: int = 1) -> str:
    name = f"test.{prefix}.{uuid.uuid4().hex[:10]}"
    assert ensure_topics(settings, [Topic(name, "test", "test", partitions=partitions)]) == [name]
    return name


def read_raw(settings: Settings, topic: str, count: int) -> list[Message]:
    with LogReader(settings, [(topic, 0)], {}, name=f"raw-{uuid.uuid4()}", config={}) as reader:
        return reader.take(count)


def appended(settings: Settings, prefix: str, seed: int) -> tuple[str, EventCodec, list[Any]]:
    """A fresh topic holding ``example_events(seed)``, sent and flushed; and the codec."""
    topic = fresh_topic(settings, prefix)
    codec = EventCodec(kafka_registry(settings))
    producer = EventProducer(settings, codec)
    events = example_events(seed)
    for event in events:
        producer.send(event, topic=topic)
    producer.flush()
    return topic, codec, events


def test_every_record_type_round_trips_byte_exact(settings: Settings) -> None:
    topic, codec, events = appended(settings, "roundtrip", 11)

    parsed = parse_schema(schemas.envelope_schema())
    raw = read_raw(settings, topic, len(events))
    for msg, event in zip(raw, events, strict=True):
        value = msg.value()
        assert value is not None
        # Single-object header exactly per the specification.
        assert value[:2] == b"\xc3\x01"
        assert value[2:10] == schemas.crc64_avro(
            schemas.canonical_form(schemas.envelope_schema()).encode()
        ).to_bytes(8, "little")
        theirs = schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), parsed)
        ours = codec.decode(value)
        assert ours == theirs
        assert plain(ours) == plain(event)
        headers = dict(record_headers(msg))
        trace, _span, sampled = tracing.parse_traceparent(headers["traceparent"])
        assert trace == event["trace_id"] and sampled
        assert headers["event-type"] == event["type"].encode()
        assert msg.key() == catalog.key_for(topic, event)


def test_producer_routes_and_keys_per_catalog(settings: Settings) -> None:
    codec = EventCodec(kafka_registry(settings))
    producer = EventProducer(settings, codec)
    # A gateway audit event: routed to gateway.audit, keyed by tenant.
    event = next(e for e in example_events(12) if e["type"] == "GatewayRequestAudited")
    event = dict(event, event_id=uuid.uuid4(), tenant=uuid.uuid4())
    delivered: list[tuple[str, bytes | None]] = []
    producer.send(
        event, on_delivery=lambda err, msg: delivered.append((str(msg.topic()), msg.key()))
    )
    producer.flush()
    assert delivered == [("gateway.audit", str(event["tenant"]).encode())]


def test_event_consumer_reads_in_order_and_acks(settings: Settings) -> None:
    topic, codec, events = appended(settings, "consumer", 13)

    group = f"g-{uuid.uuid4()}"
    consumer = EventConsumer(settings, codec, group_id=group, topics=[topic])
    seen: list[Received] = []
    consumer_run_until(consumer, seen, len(events))
    consumer.close()
    assert [plain(r.event) for r in seen] == [plain(e) for e in events]
    assert [r.offset for r in seen] == list(range(len(events)))
    assert seen[0].position == "0-0"
    assert seen[0].traceparent is not None

    # Offsets were committed: the same group sees nothing more.
    again = EventConsumer(settings, codec, group_id=group, topics=[topic])
    try:
        assert again.poll(5.0) is None
    finally:
        again.close()


def consumer_run_until(consumer: EventConsumer, seen: list[Received], count: int) -> None:
    deadline = time.monotonic() + 60
    consumer.run(
        seen.append,
        should_stop=lambda: len(seen) >= count or time.monotonic() > deadline,
    )
    assert len(seen) == count, f"got {len(seen)} of {count} events before the deadline"
