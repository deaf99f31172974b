"""Faust's commit offset with the in-flight cap (faust-streaming #606), on a real Faust consumer.

The consumer is Faust's own aiokafka consumer object (never started: no broker is
needed to compute which offset it would commit); messages are Faust messages,
tracked and acknowledged through Faust's own ``track_message``/``ack``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import TP
from faust.types.tuples import Message

from somagent.engine import faust_commit

TOPIC = "conversation.events"
TP0 = TP(TOPIC, 0)


def _consumer(committed: int | None) -> Any:
    faust_commit.install()
    app = faust.App("test-commit", broker="kafka://127.0.0.1:1", web_enabled=False)
    app.topics.add(app.topic(TOPIC))
    asyncio.run(app.topics._update_indices())  # what subscribing does: acks count for TOPIC
    consumer = app.consumer
    consumer._committed_offset[TP0] = committed
    return consumer


def _message(offset: int) -> Message:
    return Message(topic=TOPIC, partition=0, offset=offset, timestamp=0.0, timestamp_type=0,
                   headers=[], key=b"k", value=b"v", checksum=None)


def _deliver(consumer: Any, offsets: range) -> dict[int, Message]:
    messages = {o: _message(o) for o in offsets}
    for m in messages.values():
        consumer.track_message(m)
    return messages


def test_a_turn_in_flight_right_after_the_commit_is_not_committed_over() -> None:
    """#606: committed 10, TurnRequested at 10 still driven, its own events 11..15 acked."""
    consumer = _consumer(committed=10)
    messages = _deliver(consumer, range(10, 16))
    for offset in range(11, 16):
        consumer.ack(messages[offset])
    assert consumer._new_offset(TP0) is None
    consumer.ack(messages[10])  # the turn finished
    assert consumer._new_offset(TP0) == 16


def test_the_commit_stops_below_the_lowest_message_in_flight() -> None:
    consumer = _consumer(committed=10)
    messages = _deliver(consumer, range(10, 20))
    for offset in (10, 11, 12, 14, 15):
        consumer.ack(messages[offset])
    assert consumer._new_offset(TP0) == 13  # 13 is in flight
    consumer.ack(messages[13])
    for offset in range(16, 20):
        consumer.ack(messages[offset])
    consumer._committed_offset[TP0] = 13
    assert consumer._new_offset(TP0) == 20


def test_without_anything_in_flight_it_is_faust_s_rule() -> None:
    consumer = _consumer(committed=None)
    messages = _deliver(consumer, range(0, 5))
    for m in messages.values():
        consumer.ack(m)
    assert consumer._new_offset(TP0) == 5
    assert consumer._new_offset(TP0) is None  # nothing new acknowledged
