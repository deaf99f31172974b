"""The Faust ``billing`` agent: ``billing.usage`` → one-minute windows → ``billing.ledger``.

At least once, without Kafka transactions (Faust's ``exactly_once`` is not
relied on). The agent reads raw usage records with ``noack_take`` and, per batch:

1. decodes and prices each record and counts it in its input partition's
   :class:`~somagent.billing.partition.PartitionBook` (skipping what that
   partition's state already includes), closing windows that became due;
2. writes the changed state records to ``billing.windows.faust`` (partition =
   input partition) and waits for their acknowledgement — closed windows' rows
   are in them as *pending*;
3. sends the ledger rows (deterministic event ids) and waits for their
   acknowledgement, then marks them confirmed;
4. acknowledges the input events, so Faust may commit their offsets.

A crash between any two steps loses nothing and counts nothing twice: see
:mod:`somagent.billing.partition`. A partition is restored from its changelog
partition the first time the agent meets it (assignment or first record), and
its pending rows are re-sent (same ids and content; consumers dedupe by id).
A wall-clock timer closes windows of idle partitions (``wall_clock=True``).
Usage older than the retention is dead-lettered (``dlq.reason=too-late``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import faust
from faust.types import TP, EventT

from somagent.billing.exceptions import TooLate
from somagent.billing.ledger import LedgerRow
from somagent.billing.partition import PartitionBook
from somagent.billing.pricebook import PriceBook
from somagent.billing.pricebook_file import load_pricebook
from somagent.billing.state import BillingConfig, changelog_topic, read_changelog
from somagent.billing.usage import usage_from_event
from somagent.config import Settings
from somagent.events.codec import EventCodec
from somagent.events.exceptions import DecodeError, Where
from somagent.events.plain import PlainDecoder
from somagent.events.tracing import HEADER
from somagent.kafka.admin import ensure_topics
from somagent.kafka.dead_letter import DeadRecord, dead_letter, headers_of
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_registry
from somagent.telemetry.tracing import enabled as tracing_enabled
from somagent.telemetry.tracing import record_spans

log = logging.getLogger(__name__)

CHANGELOG = "billing.windows.faust"
AGENT_NAME = "billing"


class BillingAgent:
    """The agent's state and I/O; :meth:`register` attaches it to a Faust app.

    ``usage_in`` counts distinct usage records, ``rows_out`` confirmed ledger rows.
    Batches and timer ticks are serialised by one lock (one event loop).
    """

    def __init__(
        self,
        settings: Settings,
        config: BillingConfig | None = None,
        *,
        pricebook: PriceBook | None = None,
        plan_for: Callable[[str], str | None] = lambda tenant: None,
        changelog: str = CHANGELOG,
    ) -> None:
        self.settings = settings
        self.config = config or BillingConfig()
        self.changelog = changelog
        self.pricebook = pricebook or load_pricebook()
        self.plan_for = plan_for
        self.codec = EventCodec(kafka_registry(settings))
        self.decoder = PlainDecoder(self.codec)
        self.producer = EventProducer(self.settings, self.codec, config={"linger.ms": 1})
        self.parts: dict[int, PartitionBook] = {}
        self.usage_in = 0
        self.rows_out = 0
        self._lock = asyncio.Lock()
        ensure_topics(settings, [changelog_topic(settings, changelog, "Faust billing agent")])

    def register(self, app: faust.App, *, tick_s: float = 1.0) -> None:
        """Attach the ``billing`` agent, its wall-clock timer and rebalance hooks."""
        topic = app.topic(self.config.usage_topic, key_serializer="raw", value_serializer="raw")

        async def billing(stream: Any) -> None:  # faust.Stream: StreamT lacks noack()
            source = stream.noack().noack_take(
                self.config.batch, within=self.config.batch_within_s
            )
            async for events in source:
                async with self._lock:
                    await self.process(events)
                for event in events:
                    await stream.ack(event)

        app.agent(topic, name=AGENT_NAME)(billing)

        async def tick() -> None:
            if self.config.wall_clock:
                async with self._lock:
                    await self._commit(time.time_ns() // 1000)

        app.timer(tick_s)(tick)

        async def revoked(sender: Any, revoked: set[TP], **_: Any) -> None:
            async with self._lock:
                for tp in revoked:
                    if tp.topic == self.config.usage_topic:
                        self.parts.pop(tp.partition, None)

        app.on_partitions_revoked.connect(revoked)  # type: ignore[arg-type]

    async def process(self, events: Sequence[EventT[bytes]]) -> None:
        """Count one batch and make its effects durable (steps 1–3 of the module doc).

        The per-record path is lean (the agent's rate is the platform's billing rate):
        a dead-letter record is built only for a record that fails, and trace spans
        only when tracing is on."""
        now_us = time.time_ns() // 1000 if self.config.wall_clock else None
        started_ns = time.time_ns()
        parts = self.parts
        for event in events:
            msg = event.message
            part = parts.get(msg.partition) or await self._partition(msg.partition)
            try:
                decoded = self.decoder.decode(msg.value or b"", Where(msg.topic, msg.partition,
                                                                      msg.offset))
            except DecodeError as exc:
                await self._dead_letter(_dead_record(msg), exc.reason, str(exc))
                continue
            usage = usage_from_event(decoded, self.pricebook, self.plan_for)
            if usage is None:
                continue
            try:
                if part.accept(usage, msg.offset):
                    self.usage_in += 1
            except TooLate as exc:
                await self._dead_letter(_dead_record(msg), "too-late", str(exc))
        await self._commit(now_us)
        if tracing_enabled():
            spans = [(dict(headers_of(e.message.headers)).get(HEADER, b"").decode(
                "ascii", "replace"), {"somagent.position": f"{e.message.partition}-"
                                                          f"{e.message.offset}"})
                     for e in events]
            record_spans("billing usage", spans, started_ns, time.time_ns())

    async def _partition(self, partition: int) -> PartitionBook:
        part = self.parts.get(partition)
        if part is None:
            records = await asyncio.to_thread(
                read_changelog, self.settings, self.changelog, partition
            )
            part = PartitionBook.restore(
                records, int(self.config.grace_s * 1e6), self.config.retention_us
            )
            self.parts[partition] = part
            log.info(
                "billing agent: %s partition %d restored %d windows, %d pending rows",
                self.changelog,
                partition,
                len(part.book.windows),
                len(part.pending_rows()),
            )
            await self._send_rows({partition: part.pending_rows()})
        return part

    async def _commit(self, now_us: int | None) -> None:
        """Close and persist every loaded partition: one without records in this batch
        may still have windows due by the wall clock."""
        rows: dict[int, list[LedgerRow]] = {}
        writes = []
        for p, part in self.parts.items():
            if not part.busy:
                continue
            rows[p] = part.close(now_us)
            records = part.records()
            if records:
                writes.append(self.producer.publish_raw(self.changelog, records, p))
        await asyncio.gather(*writes)  # state (with pending rows) before the rows themselves
        await self._send_rows(rows)

    async def _send_rows(self, rows: dict[int, list[LedgerRow]]) -> None:
        events = [r.envelope() for batch in rows.values() for r in batch]
        if not events:
            return
        await self.producer.publish(events)
        for p, batch in rows.items():
            self.parts[p].confirm(batch)
            self.rows_out += len(batch)

    async def _dead_letter(self, record: DeadRecord, reason: str, detail: str) -> None:
        # Acknowledged before the batch's input events are: never lost, never skipped.
        await asyncio.to_thread(dead_letter, self.producer, record, reason, detail)

    def close(self) -> None:
        self.producer.close()



def _dead_record(msg: Any) -> DeadRecord:
    """A consumed message as the dead-letter path takes it."""
    return DeadRecord(Where(msg.topic, msg.partition, msg.offset), msg.key, msg.value,
                      headers_of(msg.headers))


def build_billing_app(
    settings: Settings,
    config: BillingConfig | None = None,
    *,
    plan_for: Callable[[str], str | None] = lambda tenant: None,
    changelog: str = CHANGELOG,
) -> tuple[faust.App, BillingAgent]:
    """A Faust app (consumer group = ``config.group``) running only the billing agent."""
    from somagent.engine.app import make_app

    config = config or BillingConfig()
    app = make_app(settings, app_id=config.group)
    agent = BillingAgent(settings, config, plan_for=plan_for, changelog=changelog)
    agent.register(app)
    return app, agent
