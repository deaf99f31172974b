"""The topic catalog: names, keys, retention and routing (no broker)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from somagent.config import Settings
from somagent.events import catalog
from somagent.events.examples import example_events
from somagent.events.exceptions import UnknownTopic


def test_architecture_topics_are_all_there() -> None:
    names = {t.name for t in catalog.TOPICS}
    assert {
        "conversation.events", "billing.usage", "billing.ledger", "memory.events",
        "gateway.audit", "schemas", "deadletter.events", "jobs.events", "artifacts.events",
        "policy.events", "policy.decisions",
    } == names  # fmt: skip


def test_schemas_topic_is_compacted_and_kept_forever() -> None:
    t = catalog.topic("schemas")
    assert t.config()["cleanup.policy"] == "compact"
    assert t.partitions == 1
    for t in catalog.TOPICS:
        if t.name != catalog.DEAD_LETTER:
            assert t.retention_ms == -1, t.name  # the log is the source of truth


def test_partitions_default_to_settings() -> None:
    settings = Settings(topic_partitions=4)
    assert catalog.topic("conversation.events").partition_count(settings) == 4
    assert catalog.topic("schemas").partition_count(settings) == 1


def test_keys_follow_the_catalog() -> None:
    events = {e["type"]: e for e in example_events(1)}
    turn = events["TurnRequested"]
    assert catalog.key_for("conversation.events", turn) == str(turn["session"]).encode()
    usage = events["UsageRecorded"]
    assert catalog.key_for("billing.usage", usage) == str(usage["tenant"]).encode()
    row = events["UsageWindowClosed"]
    start = row["payload"]["window_start"]
    assert catalog.key_for("billing.ledger", row) == (
        f"{row['tenant']}/planner/{row['session']}/{start}".encode()
    )
    as_datetime = dict(
        row, payload=dict(row["payload"], window_start=datetime.fromtimestamp(start / 1e6, UTC))
    )
    assert catalog.key_for("billing.ledger", as_datetime) == catalog.key_for("billing.ledger", row)
    sessionless = dict(turn, session=None, turn=uuid.UUID(int=5))
    assert catalog.key_for("conversation.events", sessionless) == str(uuid.UUID(int=5)).encode()


def test_unknown_names() -> None:
    with pytest.raises(UnknownTopic, match="nope"):
        catalog.topic("nope")
    with pytest.raises(UnknownTopic, match="NotAnEvent"):
        catalog.topic_for("NotAnEvent")
