"""Consumer-group membership: :func:`group_consumer` and the decoding :class:`EventConsumer`.

Group consumers are for work shared across processes by partition (the
transactional billing worker, tools that follow a topic). Positioned reads that
must not join a group use :class:`~somagent.kafka.reader.LogReader`.

:class:`EventConsumer` decodes records; one that cannot be decoded is
dead-lettered (:func:`~somagent.kafka.dead_letter.dead_letter`) and passed over.
Decode errors never stop the loop, and no record is skipped silently.

Delivery is at-least-once: an offset is stored only after the handler returned
(``ack``) or the record's dead letter was acknowledged; stored offsets are
committed in the background and on ``close``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from confluent_kafka import Consumer, Message, TopicPartition

from somagent.config import Settings
from somagent.events.catalog import DEAD_LETTER
from somagent.events.codec import EventCodec
from somagent.events.exceptions import DecodeError
from somagent.kafka.clients import new_consumer
from somagent.kafka.dead_letter import DeadRecord, dead_letter
from somagent.kafka.exceptions import ConsumeError
from somagent.kafka.producer import EventProducer
from somagent.kafka.records import Received, record_headers, where_of

log = logging.getLogger(__name__)

#: A consumer-group member as :func:`group_consumer` returns it (for annotations).
GroupConsumer: TypeAlias = Consumer
Rebalance = Callable[[Consumer, list[TopicPartition]], None]


def group_consumer(
    settings: Settings,
    group_id: str,
    topics: Iterable[str],
    *,
    on_assign: Rebalance | None = None,
    on_revoke: Rebalance | None = None,
    config: Mapping[str, Any] | None = None,
) -> Consumer:
    """A member of ``group_id`` subscribed to ``topics`` (``earliest`` without a
    committed offset); ``on_revoke`` also receives partitions lost without revocation."""
    consumer = new_consumer(
        settings, group_id, **{"auto.offset.reset": "earliest", **dict(config or {})}
    )
    callbacks: dict[str, Rebalance] = {}
    if on_assign is not None:
        callbacks["on_assign"] = on_assign
    if on_revoke is not None:
        callbacks["on_revoke"] = on_revoke
        callbacks["on_lost"] = on_revoke
    consumer.subscribe(list(topics), **callbacks)
    return consumer


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
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
        }
        conf.update(config or {})
        self._consumer = group_consumer(settings, group_id, self.topics, config=conf)
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
        where = where_of(msg)
        try:
            event = self.codec.decode(msg.value(), where)  # type: ignore[arg-type]
        except DecodeError as exc:
            dead_letter(
                self._dlq, DeadRecord.of(msg), exc.reason, str(exc), topic=self.dead_letter_topic
            )
            self.dead_lettered += 1
            self._store(where.topic, where.partition, where.offset)
            return None
        headers = dict(record_headers(msg))
        return Received(
            event,
            where.topic,
            where.partition,
            where.offset,
            msg.key(),
            msg.timestamp()[1],
            headers,
        )

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
