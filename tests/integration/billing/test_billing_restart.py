"""A restarted billing worker resumes from its changelog: no lost, no double counted usage.

The worker runs on private topics (usage, ledger, changelog) so this test sees
exactly its own events; windows close in event time only (no wall clock).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from somagent.billing.state import BillingConfig
from somagent.billing.windows import MINUTE_US, window_start
from somagent.billing.worker import BillingWorker
from somagent.config import Settings
from somagent.events.catalog import Topic
from somagent.events.codec import EventCodec
from somagent.events.envelope import make_event
from somagent.kafka.admin import end_offsets, ensure_topics, partitions_of
from somagent.kafka.producer import EventProducer
from somagent.kafka.reader import LogReader
from somagent.kafka.schema_log import kafka_registry

pytestmark = pytest.mark.integration


def _usage(tenant: str, session: str, at_us: int, tokens: int) -> dict[str, Any]:
    uid = uuid.uuid4()
    payload = {
        "usage_id": uid,
        "agent": "planner",
        "tokens": tokens,
        "tool_calls": 0,
        "storage_bytes": 0,
        "egress_bytes": 0,
        "token_price_picocents": 10**10,
        "occurred_at": at_us,
    }
    return make_event(
        "UsageRecorded",
        payload,
        tenant=tenant,
        session=session,
        producer="test",
        event_id=uid,
        ts_us=at_us,
    )


def _run_until(worker: BillingWorker, done: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "billing worker did not get there in time"
        worker.step(0.2)


def test_restart_resumes_windows_dedupe_and_revisions(settings: Settings) -> None:
    tag = uuid.uuid4().hex[:10]
    cfg = BillingConfig(
        grace_s=0.0,
        wall_clock=False,
        group=f"it-restart-{tag}",
        batch=100,
        usage_topic=f"it.usage.{tag}",
        ledger_topic=f"it.ledger.{tag}",
        changelog_topic=f"it.changelog.{tag}",
    )
    ensure_topics(
        settings,
        [Topic(cfg.usage_topic, "session", "test"), Topic(cfg.ledger_topic, "window", "test")],
    )
    codec = EventCodec(kafka_registry(settings))
    producer = EventProducer(settings, codec)
    tenant, session = str(uuid.uuid4()), str(uuid.uuid4())
    t0 = window_start(time.time_ns() // 1000) - 10 * MINUTE_US
    first = [
        _usage(tenant, session, t0 + 1_000_000, 10),
        _usage(tenant, session, t0 + 2_000_000, 20),
        _usage(tenant, session, t0 + MINUTE_US + 1_000_000, 5),
    ]
    for e in first:
        producer.send(e, topic=cfg.usage_topic)
    producer.flush()

    worker = BillingWorker(settings, cfg)
    try:
        _run_until(worker, lambda: worker.usage_in == 3 and worker.rows_out == 1)
    finally:
        worker.close()

    # Redeliveries of everything, one late record for the closed minute, and a
    # record two minutes on that closes the second minute.
    second = [
        *first,
        _usage(tenant, session, t0 + 3_000_000, 7),
        _usage(tenant, session, t0 + 2 * MINUTE_US + 1_000_000, 1),
    ]
    for e in second:
        producer.send(e, topic=cfg.usage_topic)
    producer.close()

    restarted = BillingWorker(settings, cfg)
    try:
        _run_until(restarted, lambda: restarted.rows_out == 2)
        assert restarted.usage_in == 2  # the three redelivered records were not counted again
    finally:
        restarted.close()

    parts = partitions_of(settings, [cfg.ledger_topic])
    ends = end_offsets(settings, parts)
    reader = LogReader(settings, parts, {}, name=f"it-{tag}", codec=codec, dead_letters=False)
    rows = []
    try:
        while not reader.caught_up(ends):
            rows += [r.event["payload"] for r in reader.batch(100, 0.5)]
    finally:
        reader.close()
    got = sorted(
        (p["window_start"] - t0, p["revision"], p["tokens"], p["is_correction"]) for p in rows
    )
    assert got == [(0, 0, 30, False), (0, 1, 7, True), (MINUTE_US, 0, 5, False)]
