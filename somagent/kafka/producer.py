"""The one Kafka producer: envelopes and raw records, acknowledgements awaited sync or async.

Every record goes through one librdkafka producer built from
:func:`~somagent.kafka.clients.producer_config` (idempotent, ``acks=all``).
Envelopes go to ``catalog.topic_for(type)`` keyed per the catalog (a session's
turn events share one partition) and carry W3C ``traceparent`` and
``event-type`` headers. Ways to wait:

* **queue** — :meth:`EventProducer.send` / :meth:`~EventProducer.send_raw`;
  :meth:`~EventProducer.flush` waits for everything queued and raises their failures;
* **sync ack** — :meth:`~EventProducer.deliver_raw` returns the record's
  ``(partition, offset)`` once the broker acknowledged it (dead letters, schemas);
* **async ack** — :meth:`~EventProducer.append` (one envelope → its position),
  :meth:`~EventProducer.publish` (a batch → their positions) and
  :meth:`~EventProducer.publish_raw` (encoded records pinned to one partition):
  each call awaits only its own records; their delivery reports are served by
  one poller thread per producer (started on first use) and settle an asyncio
  future on the caller's loop, so concurrent turns never wait for a process-wide
  flush;
* **fire and forget** — :meth:`~EventProducer.append_nowait` (audit): a failure
  is logged and counted in ``nowait_failures``, never raised;
* **transactions** — with ``transactional_id`` the records between
  :meth:`~EventProducer.begin_transaction` and
  :meth:`~EventProducer.commit_transaction` (which also commits the consumer's
  offsets) become visible together or not at all.

Each record's failure is reported once, to whoever waits for it. Ordering:
records are produced in call order and the producer is idempotent, so the
records of one partition land in that order. ``send``/``append`` may be called
from any thread or event loop; ``flush``/``close`` from one thread at a time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer, TopicPartition

from somagent.config import Settings
from somagent.events import tracing
from somagent.events.catalog import key_for, topic_for
from somagent.events.codec import EventCodec
from somagent.events.exceptions import EncodeError
from somagent.kafka.clients import producer_config
from somagent.kafka.exceptions import AppendInDoubt, ProduceError
from somagent.kafka.records import EVENT_TYPE_HEADER, Headers, Position
from somagent.telemetry.tracing import current_traceparent

log = logging.getLogger(__name__)

Delivery = Callable[[KafkaError | None, Message], None]


def _where(msg: Message) -> str:
    return f"{msg.topic()}[{msg.partition()}] key={msg.key()!r}"


def _position(msg: Message) -> Position:
    return int(msg.partition() or 0), int(msg.offset() or 0)


def _settle(future: asyncio.Future[Position], err: KafkaError | None, msg: Message) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(_position(msg))
    else:
        future.set_exception(ProduceError(f"produce to {_where(msg)} failed: {err}"))


def _settle_all(
    future: asyncio.Future[list[Position]],
    err: KafkaError | None,
    msg: Message,
    positions: list[Position | None],
) -> None:
    if future.done():
        return
    if err is not None:
        future.set_exception(ProduceError(f"produce to {_where(msg)} failed: {err}"))
    else:
        future.set_result([p for p in positions if p is not None])


class EventProducer:
    """Append envelopes and raw records to Kafka (see the module doc).

    Guarantees the writer schema is in the ``schemas`` topic before the first
    event: a codec with a process-local registry gets its schema published here.
    ``ack_timeout_s`` bounds every awaited acknowledgement.
    """

    def __init__(
        self,
        settings: Settings,
        codec: EventCodec | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        ack_timeout_s: float = 60.0,
        transactional_id: str | None = None,
        poll_interval_s: float = 0.05,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.ack_timeout_s = ack_timeout_s
        self.nowait_failures = 0
        if codec is not None and not codec.registry.durable:
            # Imported here: the schema log itself writes through this class.
            from somagent.kafka.schema_log import KafkaSchemaLog

            schema_log = KafkaSchemaLog(settings)
            schema_log.publish(codec.fingerprint, codec.writer.to_json())
            schema_log.close()
        overrides = dict(config or {})
        if transactional_id is not None:
            overrides["transactional.id"] = transactional_id
        self._config = {**producer_config(settings, **overrides), "error_cb": self._on_error}
        self._fatal: KafkaError | None = None
        self._swap_lock = threading.Lock()
        self._producer = Producer(self._config)
        self.transactional = transactional_id is not None
        if self.transactional:
            self._producer.init_transactions(30)
        self._failures: list[str] = []
        self._poll_interval_s = poll_interval_s
        self._poller: threading.Thread | None = None
        self._poller_lock = threading.Lock()
        self._stop = threading.Event()

    # -- queueing ------------------------------------------------------------

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"topic={msg.topic()} key={msg.key()!r}: {err}")
            if err.fatal():
                self._fatal = err

    def _on_error(self, err: KafkaError) -> None:
        """librdkafka's global errors; a fatal one (e.g. the idempotent producer's
        OUT_OF_ORDER_SEQUENCE_NUMBER) leaves the client unusable until replaced."""
        if err.fatal():
            self._fatal = err

    def _replace_if_fatal(self) -> None:
        """Replace a producer that hit a fatal error by a fresh one (a new producer id
        and epoch), once; what the old one still held fails (purged) so its callers
        get an error now. Transactional producers are left to their owner."""
        if self._fatal is None or self.transactional:
            return
        with self._swap_lock:
            if self._fatal is None:
                return
            old, err = self._producer, self._fatal
            self._producer, self._fatal = Producer(self._config), None
        log.error("Kafka producer hit a fatal error (%s); replaced it with a new one", err)
        try:
            old.purge(in_queue=True, in_flight=True)
            old.poll(0)
        except Exception as exc:  # the old client is broken anyway
            log.warning("purging the replaced producer: %s", exc)

    def _produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        callback: Delivery | None,
        partition: int | None = None,
    ) -> None:
        self._replace_if_fatal()
        pinned: dict[str, Any] = {}
        if callback is not None:
            pinned["on_delivery"] = callback
        if partition is not None:
            pinned["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, **pinned)
                break
            except BufferError:  # local queue full: serve callbacks, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)

    def _queued(self, on_delivery: Delivery | None) -> Delivery | None:
        """The callback of a queued record: failures go to :meth:`flush` (and ``on_delivery``).

        A transactional producer needs none: a failed record fails the commit.
        """
        if on_delivery is None:
            return None if self.transactional else self._on_delivery

        def both(err: KafkaError | None, msg: Message) -> None:
            self._on_delivery(err, msg)
            on_delivery(err, msg)

        return both

    def encode(
        self, event: Mapping[str, Any], *, topic: str | None = None, key: bytes | None = None
    ) -> tuple[str, bytes, bytes, Headers]:
        """``(topic, value, key, headers)`` of ``event`` as :meth:`send` writes it.

        The topic defaults to ``catalog.topic_for(type)``, the key to the catalog's
        key for that topic; ``traceparent`` is the active OpenTelemetry span when it is in
        the event's ``trace_id`` (the span that wrote it), else a new span id in it.

        Raises:
            EncodeError: the event does not fit the writer schema or its trace id is bad.
        """
        if self.codec is None:
            raise EncodeError(f"{event.get('type')} event: this producer has no codec")
        name = topic or topic_for(str(event["type"]))
        value = self.codec.encode(event)
        try:
            trace_id = str(event["trace_id"])
            parent = current_traceparent(trace_id) or tracing.format_traceparent(trace_id)
        except ValueError as exc:
            raise EncodeError(
                f"{event['type']} event {event.get('event_id')}: trace_id must be 32 lowercase "
                f"hex digits, not all zero: {exc}"
            ) from exc
        record_headers: Headers = [
            (tracing.HEADER, parent.encode()),
            (EVENT_TYPE_HEADER, str(event["type"]).encode()),
        ]
        return name, value, key if key is not None else key_for(name, event), record_headers

    def send(
        self,
        event: Mapping[str, Any],
        *,
        topic: str | None = None,
        key: bytes | None = None,
        on_delivery: Delivery | None = None,
    ) -> None:
        """Queue ``event`` (see :meth:`encode`); delivery failures are raised by :meth:`flush`."""
        name, value, record_key, headers = self.encode(event, topic=topic, key=key)
        self._produce(name, value, record_key, headers, self._queued(on_delivery))

    def send_raw(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        *,
        partition: int | None = None,
        on_delivery: Delivery | None = None,
    ) -> None:
        """Queue already-encoded bytes (state changelogs, ledger rows in a transaction);
        ``partition`` pins the partition instead of the key's hash."""
        self._produce(topic, value, key, headers, self._queued(on_delivery), partition)

    def poll(self, timeout_s: float = 0.0) -> int:
        """Serve delivery callbacks for up to ``timeout_s``; the number served.

        Safe from any thread (librdkafka's producer is thread-safe).
        """
        return int(self._producer.poll(timeout_s))

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued record is acknowledged.

        Raises:
            ProduceError: a queued record was refused, or the flush timed out.
        """
        remaining = self._producer.flush(timeout_s)
        failures, self._failures = self._failures, []
        if failures or remaining:
            detail = "; ".join(failures) or f"{remaining} records unacknowledged after {timeout_s}s"
            raise ProduceError(f"produce to {self.settings.kafka_servers} failed: {detail}")

    # -- one record, acknowledged synchronously --------------------------------

    def deliver_raw(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        *,
        partition: int | None = None,
        timeout_s: float = 30.0,
    ) -> Position:
        """Write one record and return its position once acknowledged (blocks this thread).

        Raises:
            ProduceError: refused, or not acknowledged within ``timeout_s``.
        """
        done = threading.Event()
        outcome: list[tuple[KafkaError | None, Message]] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            outcome.append((err, msg))
            done.set()

        self._produce(topic, value, key, headers, delivered, partition)
        deadline = time.monotonic() + timeout_s
        while not done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProduceError(
                    f"record to {topic} key={key!r} at {self.settings.kafka_servers} "
                    f"not acknowledged within {timeout_s}s"
                )
            self._producer.poll(min(0.1, left))  # serves the report when no poller runs
        err, msg = outcome[0]
        if err is not None:
            raise ProduceError(f"produce to {_where(msg)} failed: {err}")
        return _position(msg)

    # -- awaiting acknowledgements from asyncio --------------------------------

    def _ensure_poller(self) -> None:
        if self._poller is not None:
            return
        with self._poller_lock:
            if self._poller is None:
                thread = threading.Thread(target=self._serve, name="kafka-acks", daemon=True)
                thread.start()
                self._poller = thread

    def _serve(self) -> None:
        # Delivery callbacks fire inside poll(); served here, off every event loop.
        while not self._stop.is_set():
            self._producer.poll(self._poll_interval_s)

    async def _await(
        self, pending: Sequence[asyncio.Future[Position]], what: str
    ) -> list[Position]:
        try:
            return list(await asyncio.wait_for(asyncio.gather(*pending), self.ack_timeout_s))
        except TimeoutError as exc:
            raise ProduceError(
                f"{what} at {self.settings.kafka_servers} not acknowledged within "
                f"{self.ack_timeout_s}s"
            ) from exc

    async def append(self, event: Mapping[str, Any], *, topic: str | None = None) -> Position:
        """Append ``event``; return its ``(partition, offset)`` once acknowledged.

        Raises:
            ProduceError: refused, or not acknowledged within ``ack_timeout_s``.
        """
        (position,) = await self.publish([event], topic=topic)
        return position

    async def publish(
        self, events: Sequence[Mapping[str, Any]], *, topic: str | None = None
    ) -> list[Position]:
        """Append ``events`` in order; return their positions once all are acknowledged.

        One future per call, settled from the poller thread by the last delivery
        report (or the first failure): a batch costs one event-loop wake-up, not one
        per record.

        Raises:
            ProduceError: one was refused.
            AppendInDoubt: not all acknowledged within ``ack_timeout_s``; its
                ``outcome`` settles when the client knows.
        """
        if not events:
            return []
        self._ensure_poller()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Position]] = loop.create_future()
        positions: list[Position | None] = [None] * len(events)
        remaining = [len(events)]
        lock = threading.Lock()  # reports are served by the poller and by produce's poll(0)

        def report(index: int) -> Delivery:
            def delivered(err: KafkaError | None, msg: Message) -> None:
                with lock:
                    remaining[0] -= 1
                    last = remaining[0] == 0
                    if err is None:
                        positions[index] = _position(msg)
                if err is not None or last:
                    loop.call_soon_threadsafe(_settle_all, done, err, msg, positions)

            return delivered

        for index, event in enumerate(events):
            name, value, key, headers = self.encode(event, topic=topic)
            self._produce(name, value, key, headers, report(index))
        kinds = ", ".join(sorted({str(e["type"]) for e in events}))
        what = f"append of {len(events)} events ({kinds})"
        try:
            return await asyncio.wait_for(asyncio.shield(done), self.ack_timeout_s)
        except TimeoutError as exc:
            raise AppendInDoubt(
                f"{what} at {self.settings.kafka_servers} not acknowledged within "
                f"{self.ack_timeout_s}s (it may still be appended)",
                done,
            ) from exc

    async def publish_raw(
        self, topic: str, records: Sequence[tuple[bytes, bytes | None]], partition: int
    ) -> None:
        """Write already-encoded ``(key, value)`` records to one partition, in order,
        and return once all are acknowledged (state changelogs).

        One future per call, settled by the last delivery report (or the first
        failure), so large batches do not cost one event-loop wake-up per record.

        Raises:
            ProduceError: one was refused, or not all acknowledged within ``ack_timeout_s``.
        """
        if not records:
            return
        self._ensure_poller()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Position] = loop.create_future()
        remaining = [len(records)]
        lock = threading.Lock()  # reports are served by the poller and by produce's poll(0)

        def delivered(err: KafkaError | None, msg: Message) -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if err is not None or last:
                loop.call_soon_threadsafe(_settle, future, err, msg)

        for key, value in records:
            self._produce(topic, value, key, [], delivered, partition)
        await self._await([future], f"{len(records)} records to {topic}[{partition}]")

    def append_nowait(self, event: Mapping[str, Any]) -> None:
        """Queue ``event`` (audit); a failure is logged and counted, never raised."""

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.nowait_failures += 1
                log.error("event %s to %s lost: %s", event["type"], msg.topic(), err)

        try:
            name, value, key, headers = self.encode(event)
            self._produce(name, value, key, headers, delivered)
        except Exception as exc:
            self.nowait_failures += 1
            log.error("event %s not queued: %s", event.get("type"), exc)

    # -- transactions ----------------------------------------------------------

    def begin_transaction(self) -> None:
        self._producer.begin_transaction()

    def commit_transaction(self, offsets: list[TopicPartition], group_metadata: Any) -> None:
        """Commit the open transaction together with a consumer group's ``offsets``."""
        self._producer.send_offsets_to_transaction(offsets, group_metadata)
        self._producer.commit_transaction()

    def abort_transaction(self) -> None:
        self._producer.abort_transaction()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the poller and wait for what is queued (raises like :meth:`flush`)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(5.0)
        self.flush(timeout_s)
