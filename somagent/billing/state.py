"""Where billing state lives, for both engines: the compacted window-state changelog
topic (its spec and its restore read) and the engines' configuration.

Every window's totals and every counted usage id live in a compacted topic with
one partition per ``billing.usage`` partition; an engine that takes a partition
over reads that changelog partition to its end (:func:`read_changelog`) and
rebuilds its state from it (pure: :mod:`somagent.billing.partition`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from somagent.billing.ledger import DEFAULT_RETENTION_US
from somagent.config import Settings
from somagent.events.catalog import BILLING_LEDGER, BILLING_USAGE, Topic
from somagent.kafka.reader import LogReader

CHANGELOG = "billing.windows.changelog"
GROUP = "somagent-billing"


def changelog_topic(settings: Settings, name: str = CHANGELOG, owner: str = "billing") -> Topic:
    """A compacted window-state topic, one partition per input partition."""
    return Topic(
        name,
        "w|window key or i|usage id",
        f"{owner} window state (compacted)",
        partitions=settings.topic_partitions,
        cleanup_policy="compact",
    )


@dataclass
class BillingConfig:
    """Worker settings: grace period (s), wall-clock closing, state retention (µs),
    batch size and how long the Faust agent gathers one (``batch_within_s``: each
    batch writes state records and waits for their acks, so gathering longer costs
    ledger latency, never correctness), consumer group, and the topics."""

    grace_s: float = 10.0
    wall_clock: bool = True
    retention_us: int = DEFAULT_RETENTION_US
    batch: int = 5000
    batch_within_s: float = 0.5
    group: str = GROUP
    usage_topic: str = BILLING_USAGE
    ledger_topic: str = BILLING_LEDGER
    changelog_topic: str = CHANGELOG
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def read_changelog(
    settings: Settings, topic: str, partition: int, *, timeout_s: float = 300.0
) -> list[tuple[bytes, bytes | None]]:
    """Every committed ``(key, value)`` record of one changelog partition, in order.

    Transaction markers take offsets but are never delivered; the reader's
    positions step over them, so the read ends at the high watermark.

    Raises:
        ReadError: the read did not reach the partition's end within ``timeout_s``.
    """
    with LogReader(settings, [(topic, partition)], {}, name=f"{GROUP}-restore") as reader:
        return [(msg.key() or b"", msg.value()) for msg in reader.read_to_end(timeout_s)]
