"""Replay into the analytics service with ClickHouse decoding the Avro (see :mod:`chavro`).

The reading process does no Avro decoding for records written with the codec's
own writer schema: :class:`Splitter` copies their bodies, with their position,
into container rows; the inserting thread sends the container as the body of one
``INSERT ... SELECT ... FROM input() FORMAT Avro`` to the analytics service (which
spools it and lets chDB read it).
Records with any other writer schema (older ones, corrupt bytes) are decoded in
Python as before, and so is a whole batch whose statement refuses a record (see
:mod:`chavro`'s guarantees), so the rows equal the live projector's exactly.

Guarantees: a batch's rows are inserted before its positions; a batch holds no
record at or beyond ``ends``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from somagent.events.codec import HEADER_SIZE, MAGIC
from somagent.kafka.reader import LogReader
from somagent.kafka.records import Message, TopicPart
from somagent.projections import chavro, chproj

log = logging.getLogger(__name__)


@dataclass
class RawBatch:
    """One batch of raw records: container rows for ClickHouse, the rest for Python."""

    parts: list[TopicPart]
    rows: int = 0
    data: bytearray = field(default_factory=bytearray)
    fast: list[Message] = field(default_factory=list)
    other: list[Message] = field(default_factory=list)
    positions: dict[TopicPart, int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return self.rows + len(self.other)


class Splitter:
    """Turns raw messages below ``ends`` into container rows (one known header) or others."""

    def __init__(self, fingerprint: bytes, ends: Mapping[TopicPart, int]) -> None:
        self.header = MAGIC + fingerprint
        self.ends = dict(ends)

    def split(self, messages: list[Message]) -> RawBatch:
        """Rows: ``_tp`` (2 bytes LE), ``_offset`` (8 bytes LE), body, sentinel."""
        batch = RawBatch(parts=[])
        index: dict[TopicPart, tuple[bytes, int]] = {}
        data, fast, other = batch.data, batch.fast, batch.other
        header, size, sentinel = self.header, HEADER_SIZE, chavro.SENTINEL
        for msg in messages:
            tp: TopicPart = (msg.topic(), msg.partition())  # type: ignore[assignment]
            off: int = msg.offset()  # type: ignore[assignment]
            known = index.get(tp)
            if known is None:
                known = index[tp] = (len(batch.parts).to_bytes(2, "little"), self.ends.get(tp, 0))
                batch.parts.append(tp)
            if off >= known[1]:
                continue
            value = msg.value()
            if value is not None and value[:size] == header:
                data += known[0] + off.to_bytes(8, "little") + value[size:] + sentinel
                fast.append(msg)
            else:
                other.append(msg)
        batch.rows = len(fast)
        return batch


def raw_batches(
    reader: LogReader, splitter: Splitter, ends: Mapping[TopicPart, int], size: int = 50_000
) -> Iterator[RawBatch]:
    """Batches from ``reader`` until it reaches ``ends``; positions clamped to ``ends``."""
    while not reader.caught_up(ends):
        batch = splitter.split(reader.messages(size, 0.1))
        for tp, end in ends.items():
            reader.positions[tp] = min(reader.positions.get(tp, 0), end)
        batch.positions = dict(reader.positions)
        yield batch


class AvroInserter:
    """Inserts :class:`RawBatch` es through ClickHouse's Avro reader, Python as the fallback.

    ``reader`` decodes what ClickHouse may not (its dead-letter setting applies).
    Safe to call from one thread at a time.
    """

    def __init__(
        self, proj: chproj.ClickHouseProjector, rows: chavro.RowSchema, reader: LogReader
    ) -> None:
        self.proj = proj
        self.rows = rows
        self.header = rows.header
        self.reader = reader
        self.fallbacks = 0
        self._lock = threading.Lock()

    def insert(self, batch: RawBatch) -> int:
        """Insert ``batch``'s rows, then its positions; return the rows inserted."""
        with self._lock:
            ok = not batch.rows or self._insert_container(batch)
            python = batch.other if ok else batch.fast + batch.other
            columns = chproj.event_columns(self.reader.decode_messages(python)) if python else []
            inserted = self.proj.apply_columns(columns, batch.positions)
            return inserted + (batch.rows if ok else 0)

    def _insert_container(self, batch: RawBatch) -> bool:
        body = b"".join(chavro.container_parts(self.header, batch.rows, batch.data))
        sql = chavro.insert_sql(self.rows, self.proj.events_table, None, batch.parts)
        try:
            self.proj.ch.insert_body(sql, body)  # type: ignore[attr-defined]
            return True
        except Exception as exc:  # refused or unreadable: Python decodes this batch
            self.fallbacks += 1
            log.warning("replay: ClickHouse refused a batch, decoding it in Python: %s", exc)
            return False

    def close(self) -> None:
        """Nothing to release (kept so callers need not know)."""
