"""One shared consumer per edge process that follows ``conversation.events`` live
and fans each turn's events out to the asyncio queues of the streams that watch it.

Why one: a Kafka consumer per SSE stream does not scale to thousands of streams
(connections, fetch sessions, memory). The tailer is assigned every partition
(no consumer group, nothing committed) from the log end at start, and only
decodes records whose key (the session id) some stream is watching.

It reads through a :class:`~somagent.kafka.reader.LogReader` placed at the end of
every partition when it starts (no consumer group, nothing committed).

No-loss/no-duplicate hand-over (see :mod:`somagent.api.turn_stream`): the tailer
advances a partition's position and picks the record's recipients in one
critical section, and :meth:`Tailer.subscribe` snapshots the positions in the
same lock. So a subscriber receives every record at or after its snapshot
(``live_from``) and none before it; the records before it are read from the log
by :class:`~somagent.api.history.HistoryReader`, and the stream merges the two
by offset.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from somagent.config import Settings
from somagent.events.catalog import CONVERSATION, key_for
from somagent.events.codec import EventCodec
from somagent.events.exceptions import DecodeError
from somagent.kafka.admin import partitions_of
from somagent.kafka.exceptions import TopicAdminError
from somagent.kafka.reader import LOW_LATENCY, LogReader
from somagent.kafka.records import Message, where_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A decoded event and its Kafka position; ``received_ns`` is ``perf_counter_ns``
    when the edge read it (for the edge's own latency)."""

    partition: int
    offset: int
    event: dict[str, Any]
    timestamp_ms: int
    received_ns: int

    @property
    def position(self) -> str:
        """``partition-offset``: the SSE ``id``."""
        return f"{self.partition}-{self.offset}"

    @property
    def turn(self) -> str | None:
        value = self.event.get("turn")
        return None if value is None else str(value)


def session_record_key(session: str) -> bytes:
    """The record key of a session's ``conversation.events`` records (catalog rule)."""
    return key_for(CONVERSATION, {"session": session, "tenant": ""})


def decode_record(codec: EventCodec, msg: Message, topic: str) -> LoggedEvent | None:
    """Decode one record; None (logged) when it is not an event of the contract."""
    where = where_of(msg)
    try:
        event = codec.decode(msg.value(), where)  # type: ignore[arg-type]
    except DecodeError as exc:
        log.warning("edge skips undecodable record: %s", exc)
        return None
    return LoggedEvent(
        where.partition, where.offset, event, msg.timestamp()[1], time.perf_counter_ns()
    )


@dataclass(eq=False)
class Subscription:
    """A stream's interest in one turn; ``live_from`` maps partition → first live offset."""

    turn: str
    key: bytes
    loop: asyncio.AbstractEventLoop
    live_from: dict[int, int]
    queue: asyncio.Queue[LoggedEvent] = field(default_factory=asyncio.Queue)


class Tailer:
    """The per-process live reader of ``conversation.events``."""

    def __init__(
        self, settings: Settings, codec: EventCodec, *, topic: str = CONVERSATION
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.topic = topic
        self._lock = threading.Lock()
        self._positions: dict[int, int] = {}
        self._by_key: dict[bytes, set[Subscription]] = defaultdict(set)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: LogReader | None = None
        self._highs: dict[tuple[str, int], int] = {}
        self.records_seen = 0
        self.lag_hook: Callable[[int], None] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        """Assign every partition at its current end; start following.

        Raises:
            TopicAdminError: the topic is missing.
        """
        parts = partitions_of(self.settings, [self.topic], timeout_s)
        if not parts:
            raise TopicAdminError(
                f"topic {self.topic} is missing at {self.settings.kafka_servers}; "
                "run ensure_topics (somagent up)"
            )
        reader = LogReader(
            self.settings,
            parts,
            None,
            name=f"edge-tailer-{uuid.uuid4().hex[:12]}",
            config=LOW_LATENCY,
        )
        for (_, partition), high in reader.seek_to_end(timeout_s).items():
            self._positions[partition] = high
        self._reader = reader
        self._thread = threading.Thread(target=self._run, name="edge-tailer", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """Whether the following thread runs (it only ends on :meth:`close`)."""
        return self._thread is not None and self._thread.is_alive()

    def lag(self) -> dict[str, int]:
        """Records between this tailer's positions and the log end (the high watermarks
        the following thread last saw, at most a second old; no round trip)."""
        positions = self.positions()
        behind = sum(
            max(0, high - positions.get(partition, high))
            for (_, partition), high in self._highs.items()
            if high >= 0
        )
        return {self.topic: behind}

    def waiting(self) -> int:
        """Records between this tailer's positions and the log end, asking the broker
        (a separate client, so a wedged tailer cannot hide its own lag)."""
        from somagent.kafka.admin import end_offsets

        positions = self.positions()
        ends = end_offsets(self.settings, [(self.topic, p) for p in positions], 5.0)
        return sum(max(0, high - positions[p]) for (_, p), high in ends.items())

    def positions(self) -> dict[int, int]:
        with self._lock:
            return dict(self._positions)

    def subscribe(self, turn: str, session: str) -> Subscription:
        """Start receiving ``turn``'s records from the current live positions on."""
        sub = Subscription(turn, session_record_key(session), asyncio.get_running_loop(), {})
        with self._lock:
            sub.live_from = dict(self._positions)
            self._by_key[sub.key].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._by_key.get(sub.key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_key[sub.key]

    def _run(self) -> None:
        assert self._reader is not None
        highs_at = 0.0
        while not self._stop.is_set():
            if time.monotonic() - highs_at >= 1.0:  # the consumer's calls stay on this thread
                self._highs, highs_at = self._reader.cached_highs(), time.monotonic()
            try:
                # Wait for the first record only, then take what is already fetched:
                # waiting to fill the batch would add latency.
                batch = self._reader.messages(500, 0.1, first=True)
            except Exception as exc:
                log.warning("edge tailer of %s: %s", self.topic, exc)
                time.sleep(0.5)
                continue
            if batch:
                self._dispatch(batch)

    def _dispatch(self, batch: list[Message]) -> None:
        routed: list[tuple[Message, list[Subscription]]] = []
        with self._lock:
            for msg in batch:
                partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
                self._positions[partition] = offset + 1
                watching = self._by_key.get(msg.key() or b"")
                if watching:
                    routed.append((msg, list(watching)))
            self.records_seen += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Subscription, LoggedEvent]]] = (
            defaultdict(list)
        )
        for msg, subs in routed:
            item = decode_record(self.codec, msg, self.topic)
            if item is None:
                continue
            turn = item.turn  # once per record, not once per watching stream
            for sub in subs:
                if sub.turn == turn:
                    by_loop[sub.loop].append((sub, item))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, items)
            except RuntimeError:  # that loop is closed: its streams are gone
                continue

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _deliver(items: list[tuple[Subscription, LoggedEvent]]) -> None:
    for sub, item in items:
        sub.queue.put_nowait(item)
