"""The transactional billing worker: ``billing.usage`` → one-minute windows → ``billing.ledger``.

The alternative to the Faust ``billing`` agent (:mod:`somagent.billing.agent`,
the default; ``SOMAGENT_BILLING_ENGINE=transactional`` selects this one), about
seven times faster here. Thin by design: decode, call the pure
:class:`~somagent.billing.ledger.LedgerBook` (one per input partition), emit its
rows. It is a confluent-kafka consumer loop with **Kafka transactions**: each
batch's ledger rows, its window-state changelog records and its input offsets
commit atomically (read-process-write exactly once), which Faust's
``exactly_once`` does not reliably give (see ``somagent.engine.app``).

State: every window's totals/revision and every counted usage id live in the
compacted topic ``billing.windows.changelog`` (partition = input partition). On
assignment the worker reads that partition to its end and resumes, so a restart
neither loses nor double counts usage. Ledger event ids are UUIDv5 of
(tenant, agent, session, minute, revision).

Windows close in event time (largest occurred_at seen minus ``grace_s``) and,
with ``wall_clock=True``, also by the wall clock minus ``grace_s`` so an idle
partition still closes its windows. Usage older than the retention is
dead-lettered (``dlq.reason=too-late``), never silently dropped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from somagent import logs
from somagent.billing.exceptions import TooLate
from somagent.billing.ledger import LedgerBook, Usage, WindowKey, WindowState
from somagent.billing.partition import ID_PREFIX, WINDOW_PREFIX, key_from_text
from somagent.billing.plans import tenant_plans
from somagent.billing.pricebook import PriceBook
from somagent.billing.pricebook_file import load_pricebook
from somagent.billing.state import BillingConfig, changelog_topic, read_changelog
from somagent.billing.usage import usage_from_event
from somagent.config import Settings
from somagent.events.catalog import BILLING_LEDGER, key_for
from somagent.events.codec import EventCodec
from somagent.events.exceptions import DecodeError
from somagent.events.plain import PlainDecoder
from somagent.kafka.admin import ensure_topics
from somagent.kafka.consumer import GroupConsumer, group_consumer
from somagent.kafka.dead_letter import DeadRecord, dead_letter
from somagent.kafka.producer import EventProducer
from somagent.kafka.records import KafkaException, Message, TopicPartition, where_of
from somagent.kafka.schema_log import kafka_registry

log = logging.getLogger(__name__)

class BillingWorker:
    """One member of the billing consumer group; call :meth:`step` in a loop."""

    def __init__(
        self,
        settings: Settings,
        config: BillingConfig | None = None,
        *,
        pricebook: PriceBook | None = None,
        plan_for: Callable[[str], str | None] = lambda tenant: None,
    ) -> None:
        self.settings = settings
        self.config = config or BillingConfig()
        self.pricebook = pricebook or load_pricebook()
        self.plan_for = plan_for
        self.codec = EventCodec(kafka_registry(settings))
        self.decoder = PlainDecoder(self.codec)
        self.books: dict[int, LedgerBook] = {}
        self.usage_in = 0
        self.rows_out = 0
        ensure_topics(settings, [changelog_topic(settings, self.config.changelog_topic)])
        self._producer = EventProducer(
            settings,
            self.codec,
            config={"linger.ms": 2},
            transactional_id=f"{self.config.group}-{self.config.worker_id}",
        )
        self._dlq = EventProducer(settings, self.codec)  # outside the transactions
        self._consumer = group_consumer(
            settings,
            self.config.group,
            [self.config.usage_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            config={"partition.assignment.strategy": "cooperative-sticky"},
        )

    # -- state -------------------------------------------------------------

    def _on_assign(self, consumer: GroupConsumer, parts: list[TopicPartition]) -> None:
        for tp in parts:
            self.books[tp.partition] = self._restore(tp.partition)

    def _on_revoke(self, consumer: GroupConsumer, parts: list[TopicPartition]) -> None:
        for tp in parts:
            self.books.pop(tp.partition, None)

    def _restore(self, partition: int) -> LedgerBook:
        book = LedgerBook(int(self.config.grace_s * 1e6), self.config.retention_us)
        windows: dict[bytes, bytes | None] = {}
        ids: dict[bytes, bytes | None] = {}
        for key, value in read_changelog(self.settings, self.config.changelog_topic, partition):
            target = windows if key.startswith(WINDOW_PREFIX) else ids
            target[key[2:]] = value
        for key_text, value in windows.items():
            if value is not None:
                book.restore(
                    key_from_text(key_text.decode()), WindowState.from_dict(json.loads(value))
                )
        for event_id, value in ids.items():
            if value is not None:
                book.restore_id(key_from_text(value.decode()), event_id.decode())
        log.info("billing: partition %d restored %d windows", partition, len(book.windows))
        return book

    # -- the loop ----------------------------------------------------------

    def step(self, timeout_s: float = 0.5) -> int:
        """Consume one batch and commit its effects in one transaction; return usage counted."""
        messages = self._consumer.consume(self.config.batch, timeout_s)
        now_us = time.time_ns() // 1000 if self.config.wall_clock else None
        if not messages and not any(b.open_windows_count() for b in self.books.values()):
            return 0
        self._producer.begin_transaction()
        try:
            counted = self._process(messages, now_us)
            self._producer.commit_transaction(
                self._consumer.position(self._consumer.assignment()),
                self._consumer.consumer_group_metadata(),
            )
        except KafkaException:
            self._producer.abort_transaction()
            raise
        return counted

    def _process(self, messages: list[Message], now_us: int | None) -> int:
        counted = 0
        touched: dict[int, dict[WindowKey, list[str]]] = {}
        for msg in messages:
            if msg.error() is not None:
                log.warning("billing consumer: %s", msg.error())
                continue
            partition = int(msg.partition() or 0)
            book = self.books.get(partition)
            if book is None:
                continue
            usage = self._decode(msg)
            if usage is None:
                continue
            try:
                if book.add(usage):
                    counted += 1
                    key = WindowKey(
                        usage.tenant,
                        usage.agent,
                        usage.session,
                        usage.occurred_at_us - usage.occurred_at_us % 60_000_000,
                    )
                    touched.setdefault(partition, {}).setdefault(key, []).append(usage.event_id)
            except TooLate as exc:
                self._dead_letter(msg, "too-late", str(exc))
        for partition, book in self.books.items():
            rows = book.close_due(now_us)
            for row in rows:
                event = row.envelope()
                self._producer.send(
                    event,
                    topic=self.config.ledger_topic,
                    key=key_for(BILLING_LEDGER, event),  # the catalog's ledger key
                )
            self.rows_out += len(rows)
            changed = touched.get(partition, {})
            keys = set(changed) | {r.key for r in rows}
            self._write_state(partition, book, keys, changed, book.evict(now_us))
        self.usage_in += counted
        return counted

    def _write_state(
        self,
        partition: int,
        book: LedgerBook,
        keys: set[WindowKey],
        ids: dict[WindowKey, list[str]],
        evicted: list[tuple[WindowKey, set[str]]],
    ) -> None:
        changelog = self.config.changelog_topic

        def produce(value: bytes | None, key: bytes) -> None:
            self._producer.send_raw(changelog, value, key, [], partition=partition)

        for key in keys:
            state = book.windows.get(key)
            if state is None:
                continue
            text = key.text().encode()
            produce(json.dumps(state.to_dict()).encode(), WINDOW_PREFIX + text)
            for event_id in ids.get(key, ()):
                produce(text, ID_PREFIX + event_id.encode())
        for key, gone_ids in evicted:
            produce(None, WINDOW_PREFIX + key.text().encode())
            for event_id in gone_ids:
                produce(None, ID_PREFIX + event_id.encode())

    def _decode(self, msg: Message) -> Usage | None:
        try:
            event = self.decoder.decode(msg.value(), where_of(msg))  # type: ignore[arg-type]
        except DecodeError as exc:
            self._dead_letter(msg, exc.reason, str(exc))
            return None
        return usage_from_event(event, self.pricebook, self.plan_for)

    def _dead_letter(self, msg: Message, reason: str, detail: str) -> None:
        dead_letter(self._dlq, DeadRecord.of(msg), reason, detail)

    def close(self) -> None:
        self._consumer.close()
        self._producer.close()
        self._dlq.close()


def run_billing(
    settings: Settings,
    *,
    config: BillingConfig | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Run one billing worker until ``should_stop()`` (or SIGTERM/SIGINT when None)."""
    import signal

    stopped: list[bool] = []
    if should_stop is None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopped.append(True))

        def should_stop() -> bool:
            return bool(stopped)

    worker = BillingWorker(settings, config, plan_for=tenant_plans(settings))
    try:
        while not should_stop():
            worker.step()
    finally:
        worker.close()


class BillingThread:
    """One billing worker in a background thread (``somagent up``, tests); ``stop()`` joins."""

    def __init__(self, settings: Settings, config: BillingConfig | None = None) -> None:
        import threading

        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self.worker: BillingWorker | None = None

        def run() -> None:
            try:
                self.worker = BillingWorker(settings, config, plan_for=tenant_plans(settings))
                try:
                    while not self._stop.is_set():
                        self.worker.step()
                finally:
                    self.worker.close()
            except BaseException as exc:  # reported by stop()
                log.exception("billing thread failed")
                self.errors.append(exc)

        self.thread = threading.Thread(target=run, name="billing", daemon=True)
        self.thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self.thread.join(timeout_s)
        if self.errors:
            raise self.errors[0]


def main() -> None:
    from somagent.config import load_settings

    logs.configure()
    run_billing(load_settings())


if __name__ == "__main__":
    main()
