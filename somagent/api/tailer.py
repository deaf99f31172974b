"""One shared consumer per edge process that follows ``conversation.events`` live
and fans each turn's events out to the asyncio queues of the streams that watch it.

Why one: a Kafka consumer per SSE stream does not scale to thousands of streams
(connections, fetch sessions, memory). The tailer is assigned every partition
(no consumer group, nothing committed) from the log end at start, and only
decodes records whose key (the session id) some stream is watching.

No-loss/no-duplicate hand-over (see :mod:`somagent.api.streams`): the tailer
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

from confluent_kafka import Consumer, Message, TopicPartition

from somagent.api.exceptions import LogUnavailable
from somagent.config import Settings
from somagent.events.catalog import CONVERSATION, key_for
from somagent.events.codec import EventCodec
from somagent.events.exceptions import DecodeError, Where

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
    partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
    try:
        event = codec.decode(msg.value(), Where(topic, partition, offset))  # type: ignore[arg-type]
    except DecodeError as exc:
        log.warning("edge skips undecodable record: %s", exc)
        return None
    return LoggedEvent(partition, offset, event, msg.timestamp()[1], time.perf_counter_ns())


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
        self._consumer: Consumer | None = None
        self.records_seen = 0
        self.lag_hook: Callable[[int], None] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        """Assign every partition at its current end; start following."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_servers,
                "group.id": f"somagent-edge-tailer-{uuid.uuid4().hex[:12]}",  # never joins/commits
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 20,
                "socket.nagle.disable": True,
            }
        )
        metadata = consumer.list_topics(self.topic, timeout=timeout_s).topics.get(self.topic)
        if metadata is None or metadata.error is not None:
            consumer.close()
            raise LogUnavailable(
                f"topic {self.topic} is missing at {self.settings.kafka_servers}; "
                "run ensure_topics (somagent up)"
            )
        assignment = []
        for partition in sorted(metadata.partitions):
            _, high = consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=timeout_s
            )
            self._positions[partition] = high
            assignment.append(TopicPartition(self.topic, partition, high))
        consumer.assign(assignment)
        self._consumer = consumer
        self._thread = threading.Thread(target=self._run, name="edge-tailer", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """Whether the following thread runs (it only ends on :meth:`close`)."""
        return self._thread is not None and self._thread.is_alive()

    def lag(self) -> dict[str, int]:
        """Records between this tailer's positions and the log end (Kafka's cached
        high watermarks, no round trip)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        behind = 0
        for partition, position in self.positions().items():
            _, high = consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), cached=True
            )
            if high >= 0:
                behind += max(0, high - position)
        return {self.topic: behind}

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
        assert self._consumer is not None
        while not self._stop.is_set():
            try:
                # Block for the first record only, then take what is already fetched:
                # consume(n, timeout) alone would wait to fill the batch (added latency).
                first = self._consumer.poll(0.1)
                batch = [] if first is None else [first]
                if first is not None:
                    batch.extend(self._consumer.consume(num_messages=499, timeout=0))
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
                if msg.error() is not None:
                    continue
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
            for sub in subs:
                if sub.turn == item.turn:
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
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def _deliver(items: list[tuple[Subscription, LoggedEvent]]) -> None:
    for sub, item in items:
        sub.queue.put_nowait(item)
