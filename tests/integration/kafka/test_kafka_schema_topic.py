"""Writer schemas travel through the compacted ``schemas`` topic; evolution both ways."""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

import pytest

from somagent.config import Settings
from somagent.contract.envelope import plain
from somagent.events import schemas
from somagent.events.catalog import SCHEMAS, Topic
from somagent.events.codec import EventCodec
from somagent.events.examples import example_events
from somagent.events.registry import SchemaRegistry
from somagent.kafka.admin import ensure_topics
from somagent.kafka.consumer import EventConsumer
from somagent.kafka.producer import EventProducer
from somagent.kafka.reader import LogReader
from somagent.kafka.records import Received
from somagent.kafka.schema_log import KafkaSchemaLog, kafka_registry
from somagent.wait import until

pytestmark = pytest.mark.integration


def fresh_topic(settings: Settings, prefix: str) -> str:
    name = f"test.{prefix}.{uuid.uuid4().hex[:10]}"
    ensure_topics(settings, [Topic(name, "test", "test", partitions=1)])
    return name


def evolved(field_name: str) -> dict[str, Any]:
    """The working envelope plus one new TurnRequested field with a default."""
    env = schemas.envelope_schema()
    for branch in env["fields"][-1]["type"]:
        if isinstance(branch, dict) and branch["name"] == "TurnRequested":
            branch["fields"].append(
                {"name": field_name, "type": "long", "default": 7, "doc": "test field"}
            )
    return env


def drain(consumer: EventConsumer, count: int) -> list[Received]:
    seen: list[Received] = []
    deadline = time.monotonic() + 60
    consumer.run(seen.append, should_stop=lambda: len(seen) >= count or time.monotonic() > deadline)
    consumer.close()
    assert len(seen) == count
    return seen


def test_writer_schema_is_published_keyed_by_fingerprint(settings: Settings) -> None:
    v2 = evolved(f"published_{uuid.uuid4().hex[:8]}")
    codec = EventCodec(SchemaRegistry(KafkaSchemaLog(settings)), writer=v2)
    reader = LogReader(settings, [(SCHEMAS, 0)], {}, name="t-schemas", config={})
    found: dict[str, str] = {}

    def seen() -> bool:
        for msg in reader.messages(500, 0.5):
            if msg.key() is not None:
                found[msg.key().decode()] = (msg.value() or b"").decode()  # type: ignore[union-attr]
        return codec.fingerprint.hex() in found

    until(seen, timeout_s=60, what="the v2 schema on the schemas topic")
    reader.close()
    stored = json.loads(found[codec.fingerprint.hex()])
    assert schemas.fingerprint(stored) == codec.fingerprint


def test_cold_consumer_decodes_old_events_through_the_schemas_topic(settings: Settings) -> None:
    topic = fresh_topic(settings, "cold")
    extra = f"cold_{uuid.uuid4().hex[:8]}"
    writer = EventCodec(kafka_registry(settings), writer=evolved(extra))
    producer = EventProducer(settings, writer)
    events = example_events(21)
    for event in events:
        producer.send(event, topic=topic)
    producer.flush()

    # A new process: empty cache, reader = the working (v1) contract.
    registry = SchemaRegistry(KafkaSchemaLog(settings))
    reader = EventCodec(registry)
    assert writer.fingerprint not in registry
    consumer = EventConsumer(settings, reader, group_id=f"g-{uuid.uuid4()}", topics=[topic])
    seen = drain(consumer, len(events))
    assert writer.fingerprint in registry  # learnt from the schemas topic
    assert consumer.dead_lettered == 0
    assert [plain(r.event) for r in seen] == [plain(e) for e in events]


def test_new_reader_fills_defaults_for_old_events(settings: Settings) -> None:
    topic = fresh_topic(settings, "v2reads1")
    v1 = EventCodec(kafka_registry(settings))
    producer = EventProducer(settings, v1)
    requested = next(e for e in example_events(22) if e["type"] == "TurnRequested")
    producer.send(requested, topic=topic)
    producer.flush()

    extra = f"newer_{uuid.uuid4().hex[:8]}"
    v2 = EventCodec(SchemaRegistry(KafkaSchemaLog(settings)), writer=evolved(extra))
    (got,) = drain(EventConsumer(settings, v2, group_id=f"g-{uuid.uuid4()}", topics=[topic]), 1)
    assert got.event["payload"][extra] == 7
    expected = copy.deepcopy(plain(requested))
    expected["payload"][extra] = 7
    assert plain(got.event) == expected


def test_producer_publishes_the_schema_of_a_process_local_codec(settings: Settings) -> None:
    topic = fresh_topic(settings, "local")
    local = EventCodec(SchemaRegistry(), writer=evolved(f"local_{uuid.uuid4().hex[:8]}"))
    producer = EventProducer(settings, local)
    event = example_events(23)[0]
    producer.send(event, topic=topic)
    producer.flush()
    reader = EventCodec(SchemaRegistry(KafkaSchemaLog(settings)))
    (got,) = drain(EventConsumer(settings, reader, group_id=f"g-{uuid.uuid4()}", topics=[topic]), 1)
    assert plain(got.event) == plain(event)
