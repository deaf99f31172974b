"""The one positioned reader: topics read from explicit positions, raw or decoded.

A :class:`LogReader` is *assigned* ``(topic, partition) → offset``; it never
subscribes, so it joins no consumer group and commits nothing: readers never
disturb each other or any group, and each caller keeps its own positions (a
projector stores them beside its rows; the edge keeps them in memory).

Guarantees:

* within a partition records come in offset order; a read returns at most
  ``max_records``;
* ``positions`` (the next offset to read, per partition) advance when records
  are *read* (:meth:`LogReader.messages`), not when decoded, so another thread
  may decode a batch while this reader reads the next;
* positions step over transaction markers, which take an offset but are never
  delivered: after each read a position is at least the consumer's own, so
  :meth:`LogReader.caught_up` against high watermarks is reached;
* an offset below the log start (retention) resumes at the earliest record,
  never at the end;
* :meth:`LogReader.decode_messages` dead-letters undecodable records (with the
  reader's name) and skips them, never losing one; with ``dead_letters=False``
  (replays and audits, which must not write) they are logged and counted in
  ``skipped``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from confluent_kafka import Message, TopicPartition

from somagent.config import Settings
from somagent.events import tracing
from somagent.events.codec import EventCodec
from somagent.events.exceptions import DecodeError, Where
from somagent.events.plain import PlainDecoder
from somagent.kafka.clients import new_consumer
from somagent.kafka.dead_letter import DeadRecord, dead_letter, headers_of
from somagent.kafka.exceptions import ReadError
from somagent.kafka.producer import EventProducer
from somagent.kafka.records import Record, TopicPart

log = logging.getLogger(__name__)

#: Settings for reading much of a log fast (projectors, replays, restores).
BULK: Final[Mapping[str, Any]] = {
    "fetch.max.bytes": 64 * 1024 * 1024,
    "max.partition.fetch.bytes": 16 * 1024 * 1024,
    "queued.min.messages": 200_000,
}
#: Settings for following a log with little delay (the edge). A fetch is answered as soon
#: as one record arrives (``fetch.min.bytes`` 1), so the wait bounds only idle polling:
#: 100 ms keeps an idle reader at ten fetches a second without adding latency.
LOW_LATENCY: Final[Mapping[str, Any]] = {"fetch.wait.max.ms": 100, "socket.nagle.disable": True}


class LogReader:
    """Records of ``parts`` from ``positions`` onwards (a missing partition starts at 0).

    ``positions=None`` leaves the reader unassigned until :meth:`assign` or
    :meth:`seek_to_end`. ``codec`` is needed only to decode (:meth:`batch`).
    A context manager: leaving the ``with`` block closes it.
    """

    def __init__(
        self,
        settings: Settings,
        parts: Iterable[TopicPart],
        positions: Mapping[TopicPart, int] | None = None,
        *,
        name: str,
        codec: EventCodec | None = None,
        dead_letters: bool = True,
        config: Mapping[str, Any] = BULK,
    ) -> None:
        self.name = name
        self.parts = list(parts)
        self.codec = codec
        self.decoder = PlainDecoder(codec) if codec is not None else None
        self.positions: dict[TopicPart, int] = {}
        self.skipped = 0
        # Explicit positions (0 included: no ListOffsets round trip, which cost
        # ~0.5 s per start); "earliest" only applies below the log start.
        self._consumer = new_consumer(
            settings, f"somagent-reader-{name}", **{"auto.offset.reset": "earliest", **config}
        )
        self._assigned: list[TopicPartition] = []
        self._dlq = EventProducer(settings, codec) if dead_letters and codec else None
        if positions is not None:
            self.assign({tp: int(positions.get(tp, 0)) for tp in self.parts})

    # -- where to read ---------------------------------------------------------

    def assign(self, positions: Mapping[TopicPart, int]) -> None:
        """Read exactly ``positions`` from now on (replaces the previous assignment)."""
        self.positions = {tp: int(off) for tp, off in positions.items()}
        self._assigned = [TopicPartition(t, p, off) for (t, p), off in self.positions.items()]
        self._consumer.assign(self._assigned)

    def unassign(self) -> None:
        """Stop reading (a pooled reader between reads)."""
        self._consumer.unassign()
        self._assigned = []
        self.positions = {}

    def watermarks(self, timeout_s: float = 30.0) -> dict[TopicPart, tuple[int, int]]:
        """``(low, high)`` of each of ``parts``: first offset kept, next offset to be written."""
        out = {}
        for topic, partition in self.parts:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
            out[(topic, partition)] = (int(low), int(high))
        return out

    def cached_highs(self) -> dict[TopicPart, int]:
        """The high watermark of each assigned partition as last fetched (no round trip;
        -1 until the first fetch response). Call it from the thread that reads: the
        client blocks it while another thread waits in :meth:`messages`."""
        return {
            (str(tp.topic), int(tp.partition)): int(
                self._consumer.get_watermark_offsets(tp, cached=True)[1]
            )
            for tp in self._assigned
        }

    def seek_to_end(self, timeout_s: float = 30.0) -> dict[TopicPart, int]:
        """Assign every one of ``parts`` at its high watermark; return those positions."""
        ends = {tp: high for tp, (_, high) in self.watermarks(timeout_s).items()}
        self.assign(ends)
        return dict(ends)

    # -- reading ---------------------------------------------------------------

    def messages(
        self, max_records: int = 5000, timeout_s: float = 0.5, *, first: bool = False
    ) -> list[Message]:
        """Up to ``max_records`` raw messages, not decoded; advances ``positions`` past them.

        Returns as soon as ``max_records`` are there or ``timeout_s`` has passed;
        with ``first=True``, as soon as one is there (plus whatever was already
        fetched), for callers that forward records as they come. Error events are
        logged and left out.
        """
        if first:
            head = self._consumer.poll(timeout_s)
            fetched = [] if head is None else [head, *self._consumer.consume(max_records - 1, 0)]
        else:
            fetched = self._consumer.consume(num_messages=max_records, timeout=timeout_s)
        out: list[Message] = []
        positions = self.positions
        for msg in fetched:
            if msg.error() is not None:
                log.warning("reader %s: %s", self.name, msg.error())
                continue
            positions[(msg.topic(), msg.partition())] = msg.offset() + 1  # type: ignore[index,operator]
            out.append(msg)
        self._advance()
        return out

    def _advance(self) -> None:
        # The consumer's own position steps over transaction markers.
        if not self._assigned:
            return
        for tp in self._consumer.position(self._assigned):
            if tp.offset >= 0:
                key = (tp.topic, tp.partition)
                self.positions[key] = max(self.positions.get(key, 0), tp.offset)

    def decode_messages(self, messages: Iterable[Message]) -> list[Record]:
        """``messages`` decoded in order; undecodable ones dead-lettered (or skipped).

        Leaves ``positions`` alone (:meth:`messages` advanced them), so another
        thread may decode while this reader reads on.

        Raises:
            ProduceError: a dead letter was not acknowledged (nothing after it is returned).
        """
        if self.decoder is None:
            raise ReadError(f"reader {self.name} has no codec to decode with")
        out: list[Record] = []
        decode = self.decoder.decode
        for msg in messages:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            assert topic is not None and partition is not None and offset is not None
            try:
                event = decode(msg.value(), Where(topic, partition, offset))  # type: ignore[arg-type]
            except DecodeError as exc:
                self._reject(msg, exc)
                continue
            out.append(Record(topic, partition, offset, event, _traceparent(msg)))
        return out

    def batch(self, max_records: int = 5000, timeout_s: float = 0.5) -> list[Record]:
        """Up to ``max_records`` decoded records; may be empty. Advances ``positions``."""
        return self.decode_messages(self.messages(max_records, timeout_s))

    def _reject(self, msg: Message, error: DecodeError) -> None:
        self.skipped += 1
        if self._dlq is None:
            log.error("reader %s: skipping undecodable record: %s", self.name, error)
            return
        dead_letter(self._dlq, DeadRecord.of(msg), error.reason, str(error), consumer=self.name)

    def caught_up(self, ends: Mapping[TopicPart, int]) -> bool:
        """True when every position has reached ``ends``."""
        return all(self.positions.get(tp, 0) >= end for tp, end in ends.items())

    def read_to_end(self, timeout_s: float = 30.0, max_records: int = 10_000) -> list[Message]:
        """Every record from the positions up to the high watermarks taken now, in order.

        Partitions with nothing kept (high <= low) are done at once.

        Raises:
            ReadError: the ends were not reached within ``timeout_s``.
        """
        ends = {tp: high for tp, (low, high) in self.watermarks(timeout_s).items() if high > low}
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while not self.caught_up(ends):
            if time.monotonic() > deadline:
                behind = {
                    f"{t}[{p}]": f"{self.positions.get((t, p), 0)}/{end}"
                    for (t, p), end in ends.items()
                    if self.positions.get((t, p), 0) < end
                }
                raise ReadError(
                    f"reader {self.name}: reading to the end stalled within {timeout_s}s "
                    f"(position/end: {behind})"
                )
            out.extend(self.messages(max_records, 0.2))
        return out

    def take(self, count: int, timeout_s: float = 60.0) -> list[Message]:
        """The next ``count`` records (raw, in order), waiting up to ``timeout_s`` for them.

        Raises:
            ReadError: fewer than ``count`` arrived within ``timeout_s``.
        """
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReadError(
                    f"reader {self.name}: {len(out)} of {count} records within {timeout_s}s "
                    f"(positions {self.positions})"
                )
            out.extend(self.messages(count - len(out), min(0.5, left)))
        return out

    def close(self) -> None:
        self._consumer.close()
        if self._dlq is not None:
            self._dlq.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _traceparent(msg: Message) -> str | None:
    for name, value in headers_of(msg.headers()):
        if name == tracing.HEADER:
            return value.decode("ascii", "replace")
    return None
