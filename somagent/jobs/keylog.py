"""Reading one key's records from one partition: a turn's or a job's events.

A key (a session id on ``conversation.events``, a job id on ``jobs.events``) lives on
one partition, chosen by the producers' murmur2 partitioner (the Java client's), so
:meth:`KeyedLog.partition_of` knows where a key's records are before any is written.
:meth:`KeyedLog.read` reads that partition from an offset and decodes only the key's
records, through a small pool of explicitly assigned readers (no consumer group,
nothing committed). Blocking: async callers run it in a thread.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2

from somagent.config import Settings
from somagent.events.codec import EventCodec
from somagent.kafka.admin import partitions_of
from somagent.kafka.exceptions import TopicAdminError
from somagent.kafka.reader import LOW_LATENCY, LogReader


def partition_for(key: str, partitions: int) -> int:
    """The partition the producers' ``murmur2_random`` partitioner picks for ``key``."""
    return int(murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class KeyedRecord:
    """A decoded event (plain: UUIDs as strings, times as epoch µs) and its position."""

    partition: int
    offset: int
    event: dict[str, Any]

    @property
    def position(self) -> str:
        return f"{self.partition}-{self.offset}"


@dataclass
class ReadResult:
    records: list[KeyedRecord]
    next_offset: int  # where a following read continues
    stopped: bool  # ``until`` matched


class KeyedLog:
    """Bounded reads of one key's records on ``topic``; see the module doc."""

    def __init__(self, settings: Settings, codec: EventCodec, topic: str, *,
                 readers: int = 8, timeout_s: float = 10.0) -> None:
        parts = partitions_of(settings, [topic], timeout_s)
        if not parts:
            raise TopicAdminError(f"topic {topic} is missing at {settings.kafka_servers}; "
                                  "run ensure_topics (somagent up)")
        self.settings = settings
        self.codec = codec
        self.topic = topic
        self.partitions = len(parts)
        self._idle: list[LogReader] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(readers)

    def partition_of(self, key: str) -> int:
        return partition_for(key, self.partitions)

    def _reader(self) -> LogReader:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return LogReader(self.settings, [], None, name=f"keylog-{uuid.uuid4().hex[:12]}",
                         codec=self.codec, dead_letters=False, config=LOW_LATENCY)

    def end_offset(self, partition: int) -> int:
        """The partition's high watermark now (the offset the next record gets)."""
        with self._slots:
            reader = self._reader()
            try:
                reader.parts = [(self.topic, partition)]
                return reader.watermarks(10.0)[(self.topic, partition)][1]
            finally:
                reader.parts = []
                with self._lock:
                    self._idle.append(reader)

    def read(
        self,
        partition: int,
        start: int,
        key: str,
        *,
        end: int | None = None,
        until: Callable[[dict[str, Any]], bool] | None = None,
        wait_s: float = 0.0,
    ) -> ReadResult:
        """``key``'s records of ``partition`` from ``start``, in offset order.

        Stops at offset ``end`` (exclusive) when given; else (following) as soon as a
        fetch brought some of the key's records, or after ``wait_s`` with none. In both
        modes it stops right after a record for which ``until(event)`` is true.
        """
        with self._slots:
            reader = self._reader()
            try:
                result = self._read(reader, partition, start, key.encode("utf-8"), end, until,
                                    wait_s)
            except BaseException:
                reader.close()
                raise
            reader.unassign()
            with self._lock:
                self._idle.append(reader)
            return result

    def _read(self, reader: LogReader, partition: int, start: int, key: bytes, end: int | None,
              until: Callable[[dict[str, Any]], bool] | None, wait_s: float) -> ReadResult:
        where = (self.topic, partition)
        reader.assign({where: start})
        found: list[KeyedRecord] = []
        position = start
        deadline = time.monotonic() + wait_s
        while True:
            if end is not None and position >= end:
                return ReadResult(found, position, False)
            if end is None and time.monotonic() >= deadline:
                return ReadResult(found, position, False)
            batch = reader.messages(500, 0.1 if end is None else 0.2)
            for msg in batch:
                offset = int(msg.offset() or 0)
                if end is not None and offset >= end:
                    return ReadResult(found, offset, False)
                position = offset + 1
                if msg.key() != key:
                    continue
                for rec in reader.decode_messages([msg]):
                    found.append(KeyedRecord(partition, offset, rec.event))
                    if until is not None and until(rec.event):
                        return ReadResult(found, position, True)
            position = max(position, reader.positions.get(where, position))
            if end is None and found:
                return ReadResult(found, position, False)

    def close(self) -> None:
        with self._lock:
            while self._idle:
                self._idle.pop().close()
