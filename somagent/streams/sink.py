"""An :class:`~somagent.streams.driver.EventSink` over the project's idempotent producer.

Events go to ``catalog.topic_for(type)`` keyed per the catalog (a session's turn
events share one partition). ``publish`` returns once every event of the batch
is acknowledged by the broker (``acks=all``): each record's delivery report
resolves an asyncio future, served by a background thread that polls the
producer. Concurrent turns therefore wait only for their own records, not for a
process-wide flush.

Ordering: a batch's records are produced in order to their partition and the
producer is idempotent, so they land in order; a turn publishes its next batch
only after the previous one is acknowledged.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message

from somagent.events.exceptions import ProduceError
from somagent.events.kafka import EventProducer


def _settle(future: asyncio.Future[None], err: KafkaError | None, where: str) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(ProduceError(f"produce to {where} failed: {err}"))


def _ack_future(
    loop: asyncio.AbstractEventLoop,
) -> tuple[asyncio.Future[None], Callable[[KafkaError | None, Message], None]]:
    """A future and the delivery callback (run on the poller thread) that settles it."""
    future: asyncio.Future[None] = loop.create_future()

    def delivered(err: KafkaError | None, msg: Message) -> None:
        where = f"{msg.topic()}[{msg.partition()}] key={msg.key()!r}"
        loop.call_soon_threadsafe(_settle, future, err, where)

    return future, delivered


class KafkaEventSink:
    """Publishes envelopes and waits for their acknowledgements (see the module doc)."""

    def __init__(self, producer: EventProducer, *, poll_interval_s: float = 0.05) -> None:
        self.producer = producer
        self._poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="event-sink-acks", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(self._poll_interval_s)

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[None]] = []
        for event in events:
            future, delivered = _ack_future(loop)
            self.producer.send(event, on_delivery=delivered)
            pending.append(future)
        await asyncio.wait_for(asyncio.gather(*pending), timeout=60.0)

    async def publish_raw(
        self,
        topic: str,
        records: Sequence[tuple[bytes, bytes | None]],
        partition: int,
        *,
        timeout_s: float = 60.0,
    ) -> None:
        """Write already-encoded ``(key, value)`` records to one partition, in order,
        and return once all are acknowledged (state changelogs).

        One future per call, settled by the last delivery report (or the first
        failure), so large batches do not cost one event-loop wake-up per record.
        """
        if not records:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        remaining = [len(records)]
        lock = threading.Lock()  # reports are served by the poller and by produce's poll(0)

        def delivered(err: KafkaError | None, msg: Message) -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if err is not None or last:
                where = f"{msg.topic()}[{msg.partition()}] key={msg.key()!r}"
                loop.call_soon_threadsafe(_settle, future, err, where)

        for key, value in records:
            self.producer.send_raw(
                topic, value, key, [], partition=partition, on_delivery=delivered
            )
        await asyncio.wait_for(future, timeout=timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._poller.join(5.0)
