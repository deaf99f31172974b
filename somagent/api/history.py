"""Bounded reads of one turn's past records from ``conversation.events``.

A read covers offsets ``[start, end)`` of one partition, where ``end`` is the
live tailer's position when the stream subscribed; it returns the turn's events
in offset order and stops early at the turn's ``TurnCompleted``. Readers
(:class:`~somagent.kafka.reader.LogReader`) are pooled (``size`` at most, created
on demand) and assigned explicitly: no group, nothing committed, so reads never
disturb each other or any consumer group.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from somagent.api.tailer import LoggedEvent, decode_record, session_record_key
from somagent.config import Settings
from somagent.contract import names
from somagent.events.catalog import CONVERSATION
from somagent.events.codec import EventCodec
from somagent.kafka.exceptions import ReadError
from somagent.kafka.reader import LOW_LATENCY, LogReader


@dataclass(frozen=True, slots=True)
class ReadRange:
    """What to read: ``turn`` of ``session`` on ``partition``, offsets ``[start, end)``."""

    turn: str
    session: str
    partition: int
    start: int
    end: int


class HistoryReader:
    """Pool of explicitly-assigned readers for replay and resume."""

    def __init__(
        self,
        settings: Settings,
        codec: EventCodec,
        *,
        size: int = 8,
        topic: str = CONVERSATION,
        timeout_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.topic = topic
        self.timeout_s = timeout_s
        self._idle: list[LogReader] = []
        self._slots = asyncio.Semaphore(size)
        self.reads = 0

    def _reader(self) -> LogReader:
        if self._idle:
            return self._idle.pop()
        return LogReader(
            self.settings,
            (),
            None,
            name=f"edge-history-{uuid.uuid4().hex[:12]}",
            config=LOW_LATENCY,
        )

    async def read(self, wanted: ReadRange) -> list[LoggedEvent]:
        """The turn's events in ``[start, end)``, in offset order, up to its ``TurnCompleted``.

        Raises:
            ReadError: the range could not be read within ``timeout_s``.
        """
        if wanted.start >= wanted.end:
            return []
        async with self._slots:
            reader = self._reader()
            try:
                events = await asyncio.to_thread(self._read, reader, wanted)
            except BaseException:
                reader.close()
                raise
            self._idle.append(reader)
            self.reads += 1
            return events

    def _read(self, reader: LogReader, wanted: ReadRange) -> list[LoggedEvent]:
        key = session_record_key(wanted.session)
        where = (self.topic, wanted.partition)
        reader.assign({where: wanted.start})
        found: list[LoggedEvent] = []
        next_offset = wanted.start
        deadline = time.monotonic() + self.timeout_s
        try:
            while next_offset < wanted.end:
                if time.monotonic() > deadline:
                    raise ReadError(
                        f"reading {self.topic} partition {wanted.partition} offsets "
                        f"{wanted.start}..{wanted.end} for turn {wanted.turn} timed out at "
                        f"offset {next_offset}"
                    )
                for msg in reader.messages(500, 0.2):
                    offset = int(msg.offset() or 0)
                    if offset >= wanted.end:
                        return found
                    next_offset = offset + 1
                    if msg.key() != key:
                        continue
                    item = decode_record(self.codec, msg, self.topic)
                    if item is None or item.turn != wanted.turn:
                        continue
                    found.append(item)
                    if item.event.get("type") == names.TURN_COMPLETED:
                        return found
                # The reader's position also steps over offsets that hold no record.
                next_offset = max(next_offset, reader.positions.get(where, next_offset))
            return found
        finally:
            reader.unassign()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
