"""Undecodable records land in the dead-letter topic with a reason; the consumer goes on."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Message

from somagent.config import Settings
from somagent.contract.envelope import plain
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


def test_bad_records_are_dead_lettered_and_the_loop_continues(settings: Settings) -> None:
    source = f"test.dlq-src.{uuid.uuid4().hex[:10]}"
    dlq = f"test.dlq.{uuid.uuid4().hex[:10]}"
    ensure_topics(
        settings, [Topic(source, "t", "t", partitions=1), Topic(dlq, "t", "t", partitions=1)]
    )
    codec = EventCodec(kafka_registry(settings))
    good = example_events(31)[:2]
    valid = [codec.encode(e) for e in good]
    bad = {
        "not-single-object": b"\x00garbage, not an Avro single object",
        "corrupt-body": valid[0][: HEADER_SIZE + 20],
        "unknown-fingerprint": valid[0][:2] + b"\xde\xad\xbe\xef\x00\x00\x00\x01" + valid[0][10:],
    }
    order = [valid[0], *bad.values(), valid[1]]
    raw = EventProducer(settings)
    for i, value in enumerate(order):
        raw.send_raw(source, value, f"k{i}".encode(), [])
    raw.flush(30)

    consumer = EventConsumer(
        settings, codec, group_id=f"g-{uuid.uuid4()}", topics=[source], dead_letter_topic=dlq
    )
    seen: list[Received] = []
    deadline = time.monotonic() + 60
    consumer.run(seen.append, should_stop=lambda: len(seen) >= 2 or time.monotonic() > deadline)
    consumer.close()
    assert [plain(r.event) for r in seen] == [plain(e) for e in good]
    assert [r.offset for r in seen] == [0, 4]
    assert consumer.dead_lettered == 3

    letters = read_all(settings, dlq, 3)
    by_reason = {}
    for msg in letters:
        headers = dict(record_headers(msg))
        by_reason[headers["dlq.reason"].decode()] = (msg, headers)
    assert set(by_reason) == set(bad)
    for offset, (reason, value) in enumerate(bad.items(), start=1):
        msg, headers = by_reason[reason]
        assert msg.value() == value  # byte for byte
        assert msg.key() == f"k{offset}".encode()
        assert headers["dlq.topic"] == source.encode()
        assert headers["dlq.partition"] == b"0"
        assert headers["dlq.offset"] == str(offset).encode()
        detail = headers["dlq.detail"].decode()
        assert f"topic={source} partition=0 offset={offset}" in detail
        assert reason in detail


def read_all(settings: Settings, topic: str, count: int) -> list[Message]:
    with LogReader(settings, [(topic, 0)], {}, name="t-dlq", config={}) as reader:
        return reader.take(count)
