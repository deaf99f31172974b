"""Topic creation is idempotent and the live configuration matches the catalog."""

from __future__ import annotations

import uuid

import pytest

from somagent.config import Settings
from somagent.events import catalog
from somagent.events.catalog import Topic
from somagent.kafka.admin import describe_topics, ensure_topics

pytestmark = pytest.mark.integration


def test_catalog_topics_exist_with_their_configuration(settings: Settings) -> None:
    assert ensure_topics(settings) == []  # the stack already created them
    rows = {r["name"]: r for r in describe_topics(settings)}
    assert set(rows) == {t.name for t in catalog.TOPICS}
    for t in catalog.TOPICS:
        row = rows[t.name]
        assert row["exists"], t.name
        assert row["partitions"] == t.partition_count(settings)
        assert row["drift"] == [], (t.name, row["live"])
    assert rows["schemas"]["live"]["cleanup.policy"] == "compact"
    assert rows["conversation.events"]["live"]["retention.ms"] == "-1"


def test_ensure_topics_is_idempotent(settings: Settings) -> None:
    name = f"test.idem.{uuid.uuid4().hex[:10]}"
    topic = Topic(name, "test key", "test", partitions=2, cleanup_policy="compact")
    assert ensure_topics(settings, [topic]) == [name]
    assert ensure_topics(settings, [topic]) == []
    (row,) = describe_topics(settings, [topic])
    assert row["partitions"] == 2 and row["live"]["cleanup.policy"] == "compact"
