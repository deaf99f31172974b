"""Records as the Kafka layer hands them out: positions, headers, decoded events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The client's own types, for annotations outside this package (which never imports
# confluent_kafka itself: an import-linter contract keeps the client in this layer).
from confluent_kafka import KafkaException as KafkaException
from confluent_kafka import Message as Message
from confluent_kafka import TopicPartition as TopicPartition

from somagent.events import tracing
from somagent.events.exceptions import Where

#: ``(partition, offset)`` of an acknowledged record.
Position = tuple[int, int]
#: ``(topic, partition)``.
TopicPart = tuple[str, int]
Headers = list[tuple[str, str | bytes | None]]

#: Header naming the envelope's ``type`` (readers can route without decoding).
EVENT_TYPE_HEADER = "event-type"


def record_headers(msg: Message) -> list[tuple[str, bytes]]:
    """A record's headers as (name, bytes) pairs; None values become b""."""
    raw: Any = msg.headers() or []
    return [(str(k), v if isinstance(v, bytes) else b"") for k, v in raw]


def where_of(msg: Message) -> Where:
    """The record's position as the codec's errors name it."""
    return Where(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded event with its Kafka position.

    ``event`` has UUIDs as canonical strings and timestamps as epoch
    microseconds (see :class:`~somagent.events.codec.PlainDecoder`).
    """

    topic: str
    partition: int
    offset: int
    event: dict[str, Any]
    traceparent: str | None = None  # the record's W3C header (the span that wrote it)


@dataclass(frozen=True, slots=True)
class Received:
    """A decoded event from a consumer group, with its key, timestamp and headers."""

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
