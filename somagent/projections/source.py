"""Reading catalog topics from explicit positions, in decoded batches.

Projectors do not use consumer-group offsets: each stores its own position per
(topic, partition) next to the rows it wrote, and :class:`LogReader` is assigned
exactly those positions. Records that cannot be decoded are copied to the
dead-letter topic (with the reader's name in a header) and skipped, never lost.

Guarantees: within a partition records come in offset order; a batch holds at
most ``max_records``; ``positions`` after a batch is the next offset to read.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition
from fastavro import parse_schema, schemaless_reader

from somagent.config import Settings
from somagent.contract.envelope import plain
from somagent.events.catalog import DEAD_LETTER
from somagent.events.codec import HEADER_SIZE, MAGIC, EventCodec
from somagent.events.exceptions import DecodeError, Where
from somagent.events.kafka import EventProducer, dead_letter_headers
from somagent.events.schema_log import kafka_registry

log = logging.getLogger(__name__)

TopicPart = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded event with its Kafka position.

    ``event`` has UUIDs as canonical strings and timestamps as epoch
    microseconds (see :class:`PlainDecoder`).
    """

    topic: str
    partition: int
    offset: int
    event: dict[str, Any]


def make_codec(settings: Settings) -> EventCodec:
    """A codec whose registry knows every writer schema in the ``schemas`` topic."""
    return EventCodec(kafka_registry(settings))


def partitions_of(
    settings: Settings, topics: Iterable[str], timeout_s: float = 30.0
) -> list[TopicPart]:
    """Every (topic, partition) of ``topics`` as the broker reports them."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_servers, "group.id": "somagent-meta"})
    try:
        meta = consumer.list_topics(timeout=timeout_s)
        return [
            (t, p) for t in topics if t in meta.topics for p in sorted(meta.topics[t].partitions)
        ]
    finally:
        consumer.close()


def end_offsets(
    settings: Settings, parts: Iterable[TopicPart], timeout_s: float = 30.0
) -> dict[TopicPart, int]:
    """The high watermark (next offset to be written) of each partition."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_servers, "group.id": "somagent-meta"})
    try:
        out = {}
        for topic, partition in parts:
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
            out[(topic, partition)] = int(high)
        return out
    finally:
        consumer.close()


def _strip_logical(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


class PlainDecoder:
    """Decode envelopes with UUIDs as strings and timestamps as epoch µs, fast.

    Records written with the codec's own writer schema are read with that schema
    minus its logical-type annotations (same bytes, no UUID/datetime objects: the
    billing worker only needs strings and integers). Anything else (older writer
    schemas, corrupt bytes) goes through :meth:`EventCodec.decode` unchanged, so
    its errors and dead-lettering stay exactly the codec's.
    """

    def __init__(self, codec: EventCodec) -> None:
        self.codec = codec
        self.header = MAGIC + codec.writer.fingerprint
        self.parsed = parse_schema(_strip_logical(codec.writer.schema))

    def decode(self, data: bytes, where: Where) -> dict[str, Any]:
        if data is not None and data[:HEADER_SIZE] == self.header:
            body = io.BytesIO(data)
            body.seek(HEADER_SIZE)
            try:
                event: dict[str, Any] = schemaless_reader(body, self.parsed, None)  # type: ignore[assignment]
                if body.tell() == len(data):
                    return event
            except Exception:
                pass
        decoded: dict[str, Any] = plain(self.codec.decode(data, where))
        return decoded


class LogReader:
    """Decoded batches from ``positions`` onwards (a missing partition starts at 0)."""

    def __init__(
        self,
        settings: Settings,
        codec: EventCodec,
        parts: Iterable[TopicPart],
        positions: Mapping[TopicPart, int],
        *,
        name: str,
        dead_letters: bool = True,
    ) -> None:
        self.name = name
        self.codec = codec
        self.decoder = PlainDecoder(codec)
        self.positions: dict[TopicPart, int] = {tp: int(positions.get(tp, 0)) for tp in parts}
        self.skipped = 0
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_servers,
                "group.id": f"somagent-projector-{name}",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                # Positions are assigned explicitly (0 included: no ListOffsets
                # round trip, which cost ~0.5 s per start); one below the log start
                # (retention) resumes at the earliest record, never at the end.
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
                "queued.min.messages": 200_000,
            }
        )
        self._assigned = [TopicPartition(t, p, off) for (t, p), off in self.positions.items()]
        self._consumer.assign(self._assigned)
        self._dlq = EventProducer(settings, codec) if dead_letters else None

    def batch(self, max_records: int = 5000, timeout_s: float = 0.5) -> list[Record]:
        """Up to ``max_records`` decoded records; may be empty. Advances ``positions``."""
        return self.decode_messages(self.messages(max_records, timeout_s))

    def messages(self, max_records: int = 5000, timeout_s: float = 0.5) -> list[Message]:
        """Up to ``max_records`` raw messages, not decoded; advances ``positions`` past them.

        Returns as soon as ``max_records`` are there or ``timeout_s`` has passed.
        Error events are logged and left out.
        """
        messages = self._consumer.consume(num_messages=max_records, timeout=timeout_s)
        out: list[Message] = []
        positions = self.positions
        for msg in messages:
            if msg.error() is not None:
                log.warning("projector %s: %s", self.name, msg.error())
                continue
            positions[(msg.topic(), msg.partition())] = msg.offset() + 1  # type: ignore[index,operator]
            out.append(msg)
        self._advance()
        return out

    def decode_messages(self, messages: Iterable[Message]) -> list[Record]:
        """``messages`` decoded in order; undecodable ones dead-lettered (or skipped).

        Leaves ``positions`` alone (:meth:`messages` advanced them), so another
        thread may decode while this reader reads on.
        """
        out: list[Record] = []
        decode = self.decoder.decode
        for msg in messages:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            assert topic is not None and partition is not None and offset is not None
            try:
                event = decode(msg.value(), Where(topic, partition, offset))  # type: ignore[arg-type]
            except DecodeError as exc:
                self._dead_letter(msg, exc)
                continue
            out.append(Record(topic, partition, offset, event))
        return out

    def _advance(self) -> None:
        # Transactional producers leave commit markers that take an offset but are
        # never delivered; the consumer's own position steps over them, so the
        # positions (and caught_up against high watermarks) use it.
        for tp in self._consumer.position(self._assigned):
            if tp.offset >= 0:
                key = (tp.topic, tp.partition)
                self.positions[key] = max(self.positions.get(key, 0), tp.offset)

    def _dead_letter(self, msg: Message, error: DecodeError) -> None:
        self.skipped += 1
        if self._dlq is None:
            log.error("projector %s: skipping undecodable record: %s", self.name, error)
            return
        log.error("projector %s: dead-lettering undecodable record: %s", self.name, error)
        headers = [*dead_letter_headers(msg, error), ("dlq.consumer", self.name.encode())]
        self._dlq.send_raw(DEAD_LETTER, msg.value(), msg.key(), headers)
        self._dlq.flush()

    def caught_up(self, ends: Mapping[TopicPart, int]) -> bool:
        """True when every position has reached ``ends``."""
        return all(self.positions.get(tp, 0) >= end for tp, end in ends.items())

    def close(self) -> None:
        self._consumer.close()
        if self._dlq is not None:
            self._dlq.close()
