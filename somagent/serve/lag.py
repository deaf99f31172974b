"""Consumer lag of a consumer group: records between its committed offsets and the log end.

Used by the health endpoints of the roles that consume through a consumer group
(turn workers, billing, the Memory Gateway's memory agent). The reader never joins
the group (it does not subscribe), so asking does not trigger a rebalance.
A partition with no committed offset counts from its log start.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Consumer, TopicPartition

from somagent.config import Settings


class GroupLag:
    """Callable: ``{topic: records behind}`` for ``group`` over ``topics``."""

    def __init__(
        self, settings: Settings, group: str, topics: Iterable[str], *, timeout_s: float = 5.0
    ) -> None:
        self.group = group
        self.topics = list(topics)
        self.timeout_s = timeout_s
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_servers,
                "group.id": group,
                "enable.auto.commit": False,
                "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
            }
        )

    def _partitions(self) -> list[TopicPartition]:
        meta = self._consumer.list_topics(timeout=self.timeout_s)
        return [
            TopicPartition(t, p)
            for t in self.topics
            if t in meta.topics
            for p in sorted(meta.topics[t].partitions)
        ]

    def __call__(self) -> dict[str, int]:
        committed = self._consumer.committed(self._partitions(), timeout=self.timeout_s)
        behind: dict[str, int] = {}
        for tp in committed:
            low, high = self._consumer.get_watermark_offsets(tp, timeout=self.timeout_s)
            position = tp.offset if tp.offset >= 0 else low
            behind[str(tp.topic)] = behind.get(str(tp.topic), 0) + max(0, high - position)
        return behind

    def close(self) -> None:
        self._consumer.close()
