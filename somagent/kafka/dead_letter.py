"""The one way a record reaches the dead-letter topic.

A record that cannot be processed (undecodable bytes, usage too late for its
window) is copied byte for byte — key, value, its own headers — to
``deadletter.events`` with ``dlq.*`` headers that say why and where it came
from, and :func:`dead_letter` returns only once that copy is acknowledged. So a
caller that stores its input offset after the call never loses a record: it is
either processed or dead-lettered, never skipped silently.

Headers, in order: ``dlq.reason`` (a stable code: the decode error's reason, or
``too-late``), ``dlq.detail``, ``dlq.topic``, ``dlq.partition``, ``dlq.offset``,
the record's own headers, then ``dlq.consumer`` when the caller names itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from somagent.events.catalog import DEAD_LETTER
from somagent.events.exceptions import Where
from somagent.kafka.producer import EventProducer
from somagent.kafka.records import Headers, Position, record_headers, where_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadRecord:
    """What a dead letter copies: the record's position, key, value and headers."""

    where: Where
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    @classmethod
    def of(cls, msg: Message) -> DeadRecord:
        """The dead letter of a confluent-kafka message."""
        return cls(where_of(msg), msg.key(), msg.value(), record_headers(msg))


def headers_of(raw: Any) -> list[tuple[str, bytes]]:
    """Headers given as a mapping or as (name, value) pairs (Faust's messages) as
    (name, bytes) pairs; values that are not bytes are left out."""
    pairs = list(raw.items()) if isinstance(raw, Mapping) else list(raw or [])
    return [(str(k), v) for k, v in pairs if isinstance(v, bytes)]


def dlq_headers(reason: str, detail: str, where: Where) -> Headers:
    """The ``dlq.*`` headers every dead letter carries: reason code, detail, source position."""
    return [
        ("dlq.reason", reason.encode()),
        ("dlq.detail", detail.encode()),
        ("dlq.topic", where.topic.encode()),
        ("dlq.partition", str(where.partition).encode()),
        ("dlq.offset", str(where.offset).encode()),
    ]


def dead_letter(
    producer: EventProducer,
    record: DeadRecord,
    reason: str,
    detail: str,
    *,
    consumer: str | None = None,
    topic: str = DEAD_LETTER,
    timeout_s: float = 30.0,
) -> Position:
    """Copy ``record`` to ``topic``; return the copy's position once it is acknowledged.

    Raises:
        ProduceError: the copy was refused or not acknowledged within ``timeout_s``
            (the caller must then not store its input offset).
    """
    log.error("dead-lettering %s at %s: %s", reason, record.where, detail)
    headers: Headers = [*dlq_headers(reason, detail, record.where), *record.headers]
    if consumer is not None:
        headers.append(("dlq.consumer", consumer.encode()))
    return producer.deliver_raw(topic, record.value, record.key, headers, timeout_s=timeout_s)
