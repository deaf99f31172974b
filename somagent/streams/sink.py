"""An :class:`~somagent.streams.driver.EventSink` over the project's idempotent producer.

Events go to ``catalog.topic_for(type)`` keyed per the catalog (a session's turn
events share one partition). ``publish`` returns after every event of the batch
is acknowledged by the broker (``acks=all``); the blocking flush runs in a
thread so the event loop keeps serving other turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from somagent.events.kafka import EventProducer


class KafkaEventSink:
    """Publishes envelopes in order and waits for their acknowledgement."""

    def __init__(self, producer: EventProducer) -> None:
        self.producer = producer
        self._lock = asyncio.Lock()

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        # One batch at a time: a flush covers everything queued before it, and the
        # lock keeps a turn's batches in order relative to each other.
        async with self._lock:
            for event in events:
                self.producer.send(event)
            await asyncio.to_thread(self.producer.flush, 30.0)
