"""A Faust agent reads and writes envelopes with the codec; bad records are dead-lettered."""

from __future__ import annotations

import uuid
from typing import Any

import faust
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from somagent.config import Settings
from somagent.contract.envelope import plain
from somagent.events.catalog import Topic, ensure_topics
from somagent.events.codec import EventCodec
from somagent.events.examples import example_events
from somagent.events.faust_codec import event_topic, install_faust_codec, send_event
from somagent.events.kafka import EventProducer, record_headers
from somagent.events.schema_log import kafka_registry
from somagent.stack.wait import until, until_async
from somagent.streams.app import make_app

pytestmark = pytest.mark.integration


def read(settings: Settings, topic: str, count: int) -> list[Message]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_servers, "group.id": "t-faust"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got: list[Message] = []

    def more() -> bool:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got.append(msg)
        return len(got) >= count

    until(more, timeout_s=60, what=f"{count} records on {topic}")
    consumer.close()
    return got


async def test_faust_agent_relays_envelopes(settings: Settings) -> None:
    suffix = uuid.uuid4().hex[:10]
    src, out, dlq = (
        f"test.faust-in.{suffix}",
        f"test.faust-out.{suffix}",
        f"test.faust-dlq.{suffix}",
    )
    ensure_topics(settings, [Topic(n, "t", "t", partitions=1) for n in (src, out, dlq)])
    codec = EventCodec(kafka_registry(settings))
    install_faust_codec(codec, dead_letters=EventProducer(settings, codec), dead_letter_topic=dlq)

    events = example_events(41)[:3]
    raw = Producer({"bootstrap.servers": settings.kafka_servers})
    raw.produce(src, value=codec.encode(events[0]), key=b"a")
    raw.produce(src, value=b"garbage that is not an event", key=b"bad")
    raw.produce(src, value=codec.encode(events[1]), key=b"b")
    raw.produce(src, value=codec.encode(events[2]), key=b"c")
    assert raw.flush(30) == 0

    # Faust creates its data directory without parents.
    (settings.home_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = make_app(settings, app_id=f"test-faust-{suffix}")
    source, sink = event_topic(app, src), event_topic(app, out)
    seen: list[dict[str, Any]] = []

    @app.agent(source)
    async def relay(stream: faust.StreamT[dict[str, Any]]) -> None:
        async for event in stream:
            seen.append(event)
            await send_event(sink, event)

    await app.start()
    try:
        await until_async(
            _count_reached(seen, 3), timeout_s=90, what="the Faust agent to see 3 events"
        )
    finally:
        await app.stop()

    assert [plain(e) for e in seen] == [plain(e) for e in events]
    relayed = read(settings, out, 3)
    assert [plain(codec.decode(m.value() or b"")) for m in relayed] == [plain(e) for e in events]
    assert all(dict(record_headers(m)).get("traceparent") for m in relayed)
    (letter,) = read(settings, dlq, 1)
    headers = dict(record_headers(letter))
    assert letter.value() == b"garbage that is not an event"
    assert headers["dlq.reason"] == b"not-single-object"
    assert headers["dlq.offset"] == b"1" and headers["dlq.topic"] == src.encode()


def _count_reached(seen: list[dict[str, Any]], count: int) -> Any:
    async def probe() -> bool:
        return len(seen) >= count

    return probe
