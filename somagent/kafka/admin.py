"""Topic administration and metadata: create the catalog's topics, describe them,
list partitions, read watermarks.

``ensure_topics`` creates missing topics and leaves existing ones alone, so it is
safe to call from every process start (``somagent up``, tests, workers).
``describe_topics`` reports each topic's live configuration next to the catalog's
expectation, for ``somagent topics``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
)

from somagent.config import Settings
from somagent.events.catalog import TOPICS, Topic
from somagent.kafka.clients import new_consumer
from somagent.kafka.exceptions import TopicAdminError
from somagent.kafka.reader import LogReader
from somagent.kafka.records import TopicPart
from somagent.logs import kafka_logger
from somagent.telemetry.metrics import set_consumer_lag


def admin_client(settings: Settings, **overrides: Any) -> AdminClient:
    """An admin client for ``settings``' brokers (``overrides``: librdkafka settings)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_servers, "logger": kafka_logger(), **overrides
    }
    return AdminClient(config)


def _replication(admin: AdminClient, timeout_s: float) -> int:
    brokers = admin.list_topics(timeout=timeout_s).brokers
    return max(1, min(3, len(brokers)))


def ensure_topics(
    settings: Settings, topics: Iterable[Topic] = TOPICS, *, timeout_s: float = 30.0
) -> list[str]:
    """Create every missing topic of ``topics``; return the names created by this call.

    Idempotent: existing topics are left as they are (``describe_topics`` reports
    drift). Replication factor is ``min(3, brokers)`` and ``min.insync.replicas``
    ``min(2, replication)``, so ``acks=all`` means something on a real cluster.

    Raises:
        TopicAdminError: the broker refused a topic for any reason but "exists".
    """
    admin = admin_client(settings)
    try:
        replication = _replication(admin, timeout_s)
    except KafkaException as exc:
        raise TopicAdminError(f"cannot reach Kafka at {settings.kafka_servers}: {exc}") from exc
    wanted = list(topics)
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    new = [
        NewTopic(
            t.name,
            num_partitions=t.partition_count(settings),
            replication_factor=replication,
            config={**t.config(), "min.insync.replicas": str(min(2, replication))},
        )
        for t in wanted
        if t.name not in existing
    ]
    if not new:
        return []
    created: list[str] = []
    for name, future in admin.create_topics(new, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # another process won the race; that is fine
            raise TopicAdminError(
                f"creating topic {name} on {settings.kafka_servers} failed: {exc}"
            ) from exc
    return created


_SHOWN = ("cleanup.policy", "retention.ms", "min.insync.replicas", "min.compaction.lag.ms")


def describe_topics(
    settings: Settings, topics: Iterable[Topic] = TOPICS, *, timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """Each catalog topic with its live partitions and configuration.

    Every row has ``name``, ``key``, ``exists``, ``partitions`` (live, or None),
    ``expected`` (the catalog's config), ``live`` (the broker's values for the same
    keys) and ``drift`` (keys whose live value differs from the catalog).
    """
    admin = admin_client(settings)
    wanted = list(topics)
    try:
        metadata = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise TopicAdminError(f"cannot reach Kafka at {settings.kafka_servers}: {exc}") from exc
    resources = [ConfigResource("topic", t.name) for t in wanted if t.name in metadata]
    live: dict[str, dict[str, str]] = {}
    if resources:
        described = admin.describe_configs(resources, request_timeout=timeout_s)
        for resource, future in described.items():
            entries = future.result(timeout=timeout_s)
            live[resource.name] = {k: str(v.value) for k, v in entries.items() if k in _SHOWN}
    rows: list[dict[str, Any]] = []
    for t in wanted:
        expected = t.config()
        got = live.get(t.name, {})
        rows.append(
            {
                "name": t.name,
                "key": t.key,
                "doc": t.doc,
                "exists": t.name in metadata,
                "partitions": len(metadata[t.name].partitions) if t.name in metadata else None,
                "expected_partitions": t.partition_count(settings),
                "expected": expected,
                "live": got,
                "drift": sorted(k for k, v in expected.items() if got.get(k) != v),
            }
        )
    return rows


def partitions_of(
    settings: Settings, topics: Iterable[str], timeout_s: float = 30.0
) -> list[TopicPart]:
    """Every (topic, partition) of ``topics`` as the broker reports them (missing topics: none)."""
    wanted = list(topics)
    try:
        meta = admin_client(settings).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise TopicAdminError(f"cannot reach Kafka at {settings.kafka_servers}: {exc}") from exc
    return [
        (t, p)
        for t in wanted
        if t in meta.topics
        for p in sorted(meta.topics[t].partitions)
    ]


def end_offsets(
    settings: Settings, parts: Iterable[TopicPart], timeout_s: float = 30.0
) -> dict[TopicPart, int]:
    """The high watermark (next offset to be written) of each partition."""
    with LogReader(settings, parts, None, name="meta", config={}) as reader:
        return {tp: high for tp, (_, high) in reader.watermarks(timeout_s).items()}


def topic_metadata(settings: Settings, topic: str, timeout_s: float) -> tuple[int, int]:
    """``(brokers, partitions)`` of ``topic``, asking within ``timeout_s`` (health probes).

    Raises:
        TopicAdminError: the topic is missing or reports an error.
        KafkaException: the brokers did not answer.
    """
    admin = admin_client(settings, **{"socket.connection.setup.timeout.ms": int(timeout_s * 1000)})
    metadata = admin.list_topics(topic, timeout=timeout_s)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise TopicAdminError(f"topic {topic} unavailable: {found.error if found else None}")
    return len(metadata.brokers), len(found.partitions)


def commit_offsets(
    settings: Settings, group_id: str, positions: Mapping[TopicPart, int], timeout_s: float = 30.0
) -> None:
    """Commit ``positions`` as consumer group ``group_id``'s next offsets (without joining it).

    Used to start a group somewhere other than its ``auto.offset.reset`` would.
    """
    consumer = new_consumer(settings, group_id, **{"socket.timeout.ms": int(timeout_s * 1000)})
    try:
        offsets = [TopicPartition(t, p, off) for (t, p), off in positions.items()]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def committed_offsets(
    settings: Settings, group_id: str, topics: Iterable[str], timeout_s: float = 30.0
) -> dict[TopicPart, int]:
    """Consumer group ``group_id``'s committed next offsets on ``topics`` (without joining it);
    partitions with no commit are left out (a new group has none)."""
    consumer = new_consumer(settings, group_id, **{"socket.timeout.ms": int(timeout_s * 1000)})
    try:
        meta = consumer.list_topics(timeout=timeout_s)
        parts = [
            TopicPartition(t, p)
            for t in topics
            if t in meta.topics
            for p in sorted(meta.topics[t].partitions)
        ]
        return {
            (str(tp.topic), int(tp.partition)): int(tp.offset)
            for tp in consumer.committed(parts, timeout=timeout_s)
            if tp.offset >= 0
        }
    finally:
        consumer.close()


class GroupLag:
    """Callable: ``{topic: records behind}`` of consumer group ``group`` over ``topics``.

    Records between the group's committed offsets and the log end; a partition
    with no committed offset counts from its log start. The reader never joins the
    group (it does not subscribe), so asking does not trigger a rebalance. Used by
    the health endpoints of the roles that consume through a group.
    """

    def __init__(
        self, settings: Settings, group: str, topics: Iterable[str], *, timeout_s: float = 5.0
    ) -> None:
        self.group = group
        self.topics = list(topics)
        self.timeout_s = timeout_s
        self._consumer = new_consumer(
            settings, group, **{"socket.connection.setup.timeout.ms": int(timeout_s * 1000)}
        )

    def __call__(self) -> dict[str, int]:
        meta = self._consumer.list_topics(timeout=self.timeout_s)
        parts = [
            TopicPartition(t, p)
            for t in self.topics
            if t in meta.topics
            for p in sorted(meta.topics[t].partitions)
        ]
        behind: dict[str, int] = {}
        per_partition: dict[tuple[str, int], int] = {}
        for tp in self._consumer.committed(parts, timeout=self.timeout_s):
            low, high = self._consumer.get_watermark_offsets(tp, timeout=self.timeout_s)
            position = tp.offset if tp.offset >= 0 else low
            per_partition[(str(tp.topic), int(tp.partition))] = max(0, high - position)
            behind[str(tp.topic)] = behind.get(str(tp.topic), 0) + max(0, high - position)
        set_consumer_lag(self.group, per_partition)  # somagent_consumer_lag_records
        return behind

    def close(self) -> None:
        self._consumer.close()
