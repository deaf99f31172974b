"""A Faust agent reads and writes envelopes with the codec; bad records are dead-lettered."""

from __future__ import annotations

import uuid
from typing import Any

import faust
import pytest
from confluent_kafka import Message

from somagent.config import Settings
from somagent.contract.envelope import plain
from somagent.engine.app import make_app
from somagent.engine.faust_codec import event_topic, install_faust_codec, send_event
from somagent.events.catalog import Topic
from somagent.events.codec import EventCodec
from somagent.events.examples import example_events
from somagent.kafka.admin import ensure_topics
from somagent.kafka.producer import EventProducer
from somagent.kafka.reader import LogReader
from somagent.kafka.records import record_headers
from somagent.kafka.schema_log import kafka_registry
from somagent.wait import until_async

pytestmark = pytest.mark.integration


def read(settings: Settings, topic: str, count: int) -> list[Message]:
    with LogReader(settings, [(topic, 0)], {}, name="t-faust", config={}) as reader:
        return reader.take(count)


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
    raw = EventProducer(settings)
    raw.send_raw(src, codec.encode(events[0]), b"a", [])
    raw.send_raw(src, b"garbage that is not an event", b"bad", [])
    raw.send_raw(src, codec.encode(events[1]), b"b", [])
    raw.send_raw(src, codec.encode(events[2]), b"c", [])
    raw.flush(30)

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
