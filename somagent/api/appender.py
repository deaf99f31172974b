"""Appending events from async handlers, with the Kafka position of each append.

:class:`Appender` wraps the project's :class:`~somagent.events.kafka.EventProducer`
(idempotent, ``acks=all``, catalog topic and key, ``traceparent`` header) and
serves its delivery reports on one background thread, resolving an asyncio
future per record. ``append`` returns only once the broker acknowledged the
record, with its ``(partition, offset)``; ``append_nowait`` is for audit events
whose failure must not fail the request (failures are logged and counted).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, Message

from somagent.api.exceptions import LogUnavailable
from somagent.config import Settings
from somagent.events.catalog import topic_for
from somagent.events.codec import EventCodec
from somagent.events.kafka import EventProducer

log = logging.getLogger(__name__)

Position = tuple[int, int]


class Appender:
    """One producer per edge process; thread-safe ``append`` from any event loop."""

    def __init__(self, settings: Settings, codec: EventCodec, *, timeout_s: float = 10.0):
        self.settings = settings
        self.timeout_s = timeout_s
        # linger 1 ms: the edge appends single requests and waits for them.
        self._events = EventProducer(settings, codec, config={"linger.ms": 1})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="edge-producer", daemon=True)
        self._thread.start()
        self.audit_failures = 0

    def _serve(self) -> None:
        # Delivery callbacks fire inside poll(), served here off the event loop.
        while not self._stop.is_set():
            self._events.poll(0.05)

    async def append(self, event: Mapping[str, Any], *, topic: str | None = None) -> Position:
        """Append ``event``; return its (partition, offset) once acknowledged.

        Raises:
            LogUnavailable: refused, or not acknowledged within ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Position] = loop.create_future()
        name = topic or topic_for(str(event["type"]))

        def settle(err: KafkaError | None, msg: Message) -> None:
            if done.done():
                return
            if err is not None:
                done.set_exception(
                    LogUnavailable(f"append of {event['type']} to {name} failed: {err}")
                )
            else:
                done.set_result((int(msg.partition() or 0), int(msg.offset() or 0)))

        def delivered(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(settle, err, msg)

        self._events.send(event, topic=topic, on_delivery=delivered)
        try:
            return await asyncio.wait_for(done, self.timeout_s)
        except TimeoutError as exc:
            raise LogUnavailable(
                f"append of {event['type']} to {name} at {self.settings.kafka_servers} "
                f"not acknowledged within {self.timeout_s}s"
            ) from exc

    def append_nowait(self, event: Mapping[str, Any]) -> None:
        """Queue ``event`` (audit); a failed delivery is logged, never raised."""

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.audit_failures += 1
                log.error("audit event %s to %s lost: %s", event["type"], msg.topic(), err)

        try:
            self._events.send(event, on_delivery=delivered)
        except Exception as exc:
            self.audit_failures += 1
            log.error("audit event %s not queued: %s", event.get("type"), exc)

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        try:
            self._events.flush(timeout_s)
        except Exception as exc:
            log.warning("edge producer flush on close: %s", exc)
