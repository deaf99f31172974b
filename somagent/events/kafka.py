"""Producer and consumer glue every component uses.

* :class:`EventProducer` encodes envelopes with the codec, routes each to its
  catalog topic with the catalog key, and carries W3C ``traceparent`` (plus
  ``event-type``) in record headers. The producer is idempotent with ``acks=all``.
* :class:`EventConsumer` decodes records; one that cannot be decoded is copied
  byte for byte to the dead-letter topic with the reason and its source position
  in headers, logged, and passed over. Decode errors never stop the loop, and no
  record is skipped silently.

Delivery is at-least-once: an offset is stored only after the handler returned
(``ack``) or the record reached the dead-letter topic; stored offsets are
committed in the background and on ``close``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from somagent.config import Settings
from somagent.events import tracing
from somagent.events.catalog import DEAD_LETTER, key_for, topic_for
from somagent.events.codec import EventCodec
from somagent.events.exceptions import (
    ConsumeError,
    DecodeError,
    EncodeError,
    ProduceError,
    Where,
)
from somagent.events.schema_log import KafkaSchemaLog, kafka_registry, producer_config

log = logging.getLogger(__name__)

EVENT_TYPE_HEADER = "event-type"
Headers = list[tuple[str, str | bytes | None]]


def record_headers(msg: Message) -> list[tuple[str, bytes]]:
    """A record's headers as (name, bytes) pairs; None values become b""."""
    raw: Any = msg.headers() or []
    return [(str(k), v if isinstance(v, bytes) else b"") for k, v in raw]


def kafka_codec(settings: Settings, *, writer: dict[str, Any] | None = None) -> EventCodec:
    """A codec whose registry is the ``schemas`` topic (pre-loaded), for real processes.

    Its writer schema (default: the working contract) is published on construction.
    """
    return EventCodec(kafka_registry(settings), writer=writer)


class EventProducer:
    """Append envelopes to their topics. Not thread-safe for ``flush``/``close``.

    Guarantees the writer schema is in the ``schemas`` topic before the first
    event: a codec with a process-local registry gets its schema published here.
    """

    def __init__(
        self,
        settings: Settings,
        codec: EventCodec,
        *,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.codec = codec
        if not codec.registry.durable:
            schema_log = KafkaSchemaLog(settings)
            schema_log.publish(codec.fingerprint, codec.writer.to_json())
            schema_log.close()
        self._producer = Producer(producer_config(settings, **dict(config or {})))
        self._failures: list[str] = []

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(
                f"topic={msg.topic()} key={msg.key()!r}: {err}"  # names topic and key
            )

    def send(
        self,
        event: Mapping[str, Any],
        *,
        topic: str | None = None,
        key: bytes | None = None,
        traceparent: str | None = None,
        headers: Iterable[tuple[str, bytes]] = (),
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
    ) -> None:
        """Queue ``event`` for its topic (default: ``catalog.topic_for(type)``).

        The key defaults to the catalog's key for that topic; ``traceparent``
        defaults to a new span in the event's ``trace_id``. Delivery failures are
        raised by :meth:`flush`.
        """
        name = topic or topic_for(str(event["type"]))
        value = self.codec.encode(event)
        try:
            parent = traceparent or tracing.format_traceparent(str(event["trace_id"]))
        except ValueError as exc:
            raise EncodeError(
                f"{event['type']} event {event.get('event_id')}: trace_id must be 32 lowercase "
                f"hex digits, not all zero: {exc}"
            ) from exc
        record_headers: Headers = [
            (tracing.HEADER, parent.encode()),
            (EVENT_TYPE_HEADER, str(event["type"]).encode()),
            *headers,
        ]
        self._produce(
            name,
            value,
            key if key is not None else key_for(name, event),
            record_headers,
            on_delivery,
        )

    def _produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        on_delivery: Callable[[KafkaError | None, Message], None] | None,
        partition: int | None = None,
    ) -> None:
        callback = self._on_delivery
        if on_delivery is not None:

            def callback(err: KafkaError | None, msg: Message) -> None:
                self._on_delivery(err, msg)
                on_delivery(err, msg)

        pinned: dict[str, Any] = {"on_delivery": callback}
        if partition is not None:
            pinned["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, **pinned)
                break
            except BufferError:  # local queue full: serve callbacks, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)

    def send_raw(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        *,
        partition: int | None = None,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
    ) -> None:
        """Queue already-encoded bytes (dead letters, state changelogs); ``partition``
        pins the partition instead of the key's hash."""
        self._produce(topic, value, key, headers, on_delivery, partition)

    def poll(self, timeout_s: float = 0.0) -> int:
        """Serve delivery callbacks for up to ``timeout_s``; the number served.

        Safe to call from another thread than the one producing (librdkafka's
        producer is thread-safe), which is how async callers wait for acks.
        """
        return int(self._producer.poll(timeout_s))

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued record is acknowledged.

        Raises:
            ProduceError: a record was refused, or the flush timed out.
        """
        remaining = self._producer.flush(timeout_s)
        failures, self._failures = self._failures, []
        if failures or remaining:
            detail = "; ".join(failures) or f"{remaining} records unacknowledged after {timeout_s}s"
            raise ProduceError(f"produce to {self.settings.kafka_servers} failed: {detail}")

    def close(self, timeout_s: float = 30.0) -> None:
        self.flush(timeout_s)


@dataclass(frozen=True, slots=True)
class Received:
    """A decoded event and where it came from."""

    event: dict[str, Any]
    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int
    headers: dict[str, bytes] = field(default_factory=dict)

    @property
    def position(self) -> str:
        """``partition-offset``, the SSE event id of this record."""
        return f"{self.partition}-{self.offset}"

    @property
    def traceparent(self) -> str | None:
        raw = self.headers.get(tracing.HEADER)
        return raw.decode("ascii", "replace") if raw is not None else None


def dlq_headers(reason: str, detail: str, where: Where) -> Headers:
    """The ``dlq.*`` headers every dead letter carries: reason code, detail, source position."""
    return [
        ("dlq.reason", reason.encode()),
        ("dlq.detail", detail.encode()),
        ("dlq.topic", where.topic.encode()),
        ("dlq.partition", str(where.partition).encode()),
        ("dlq.offset", str(where.offset).encode()),
    ]


def dead_letter_headers(msg: Message, error: DecodeError) -> Headers:
    """Headers of a dead letter: :func:`dlq_headers`, then the record's own headers."""
    where = Where(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))
    return [*dlq_headers(error.reason, str(error), where), *record_headers(msg)]


class EventConsumer:
    """Decode events from ``topics`` in consumer group ``group_id``.

    ``from_beginning`` sets ``auto.offset.reset=earliest`` for a group without
    committed offsets. ``dead_letter_topic`` receives undecodable records.
    """

    def __init__(
        self,
        settings: Settings,
        codec: EventCodec,
        *,
        group_id: str,
        topics: Iterable[str],
        dead_letter_topic: str = DEAD_LETTER,
        from_beginning: bool = True,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.topics = list(topics)
        self.dead_letter_topic = dead_letter_topic
        self.dead_lettered = 0
        conf: dict[str, Any] = {
            "bootstrap.servers": settings.kafka_servers,
            "group.id": group_id,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
        }
        conf.update(config or {})
        self._consumer = Consumer(conf)
        self._consumer.subscribe(self.topics)
        self._dlq = EventProducer(settings, codec)

    def poll(self, timeout_s: float = 1.0) -> Received | None:
        """The next decodable event, or None if none arrived within ``timeout_s``.

        Undecodable records met on the way are dead-lettered (synchronously, so
        their offsets are stored only once the dead letter is durable).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self._consumer.poll(max(0.0, deadline - time.monotonic()))
            if msg is None:
                return None
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise ConsumeError(f"consumer of {self.topics} failed: {err}")
                log.warning("consumer of %s: %s", self.topics, err)
                continue
            received = self._decode(msg)
            if received is not None:
                return received
            if time.monotonic() >= deadline:
                return None

    def _decode(self, msg: Message) -> Received | None:
        topic, partition, offset = (
            str(msg.topic()),
            int(msg.partition() or 0),
            int(msg.offset() or 0),
        )
        try:
            event = self.codec.decode(msg.value(), Where(topic, partition, offset))  # type: ignore[arg-type]
        except DecodeError as exc:
            self._dead_letter(msg, exc)
            return None
        headers = dict(record_headers(msg))
        return Received(event, topic, partition, offset, msg.key(), msg.timestamp()[1], headers)

    def _dead_letter(self, msg: Message, error: DecodeError) -> None:
        log.error("dead-lettering undecodable record: %s", error)
        self._dlq.send_raw(
            self.dead_letter_topic, msg.value(), msg.key(), dead_letter_headers(msg, error)
        )
        self._dlq.flush()
        self.dead_lettered += 1
        self._store(str(msg.topic()), msg.partition() or 0, msg.offset() or 0)

    def _store(self, topic: str, partition: int, offset: int) -> None:
        self._consumer.store_offsets(offsets=[TopicPartition(topic, partition, offset + 1)])

    def ack(self, received: Received) -> None:
        """Mark ``received`` handled: its offset will be committed."""
        self._store(received.topic, received.partition, received.offset)

    def run(
        self,
        handler: Callable[[Received], None],
        *,
        should_stop: Callable[[], bool],
        poll_timeout_s: float = 0.5,
    ) -> None:
        """Call ``handler`` for each event until ``should_stop()``; ack after each.

        An exception from ``handler`` propagates and the event stays unacked, so
        it is delivered again (at-least-once).
        """
        while not should_stop():
            received = self.poll(poll_timeout_s)
            if received is not None:
                handler(received)
                self.ack(received)

    def close(self) -> None:
        """Commit stored offsets and leave the group."""
        try:
            self._consumer.commit(asynchronous=False)
        except Exception as exc:  # nothing stored yet raises _NO_OFFSET; not an error
            log.debug("final commit of %s: %s", self.topics, exc)
        self._consumer.close()
        self._dlq.close()
