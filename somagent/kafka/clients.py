"""The librdkafka settings of every client, in one place; nothing else builds a consumer.

Producers are idempotent with ``acks=all`` and Java's murmur2 partitioner (the same
as Faust/aiokafka and the Java clients: a session's events land on one partition
whichever client appends them). Consumers never commit on their own
(``enable.auto.commit`` off unless a caller stores offsets explicitly) and read
only committed transactions.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer

from somagent.config import Settings
from somagent.logs import kafka_logger


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """librdkafka settings of every SomaGent producer: idempotent, ``acks=all``."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "partitioner": "murmur2_random",
        "logger": kafka_logger(),  # librdkafka's log through Python logging (rate-limited)
    }
    config.update(overrides)
    return config


def new_consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    """A consumer in ``group_id`` that commits nothing by itself and reads committed data.

    ``group_id`` only matters to callers that ``subscribe``; positioned readers
    ``assign`` and never join or commit.
    """
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_servers,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "isolation.level": "read_committed",
        "logger": kafka_logger(),
    }
    config.update(overrides)
    return Consumer(config)
