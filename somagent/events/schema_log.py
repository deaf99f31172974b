"""The compacted ``schemas`` topic as a :class:`~somagent.events.registry.SchemaLog`.

Key: the fingerprint as 16 lowercase hex digits (little-endian CRC-64-AVRO, the
same 8 bytes the single-object header carries). Value: the schema's JSON.
Publishing waits for ``acks=all``; reading goes to the end of the topic (the high
watermark taken at the start of the read).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from somagent.config import Settings
from somagent.events.catalog import SCHEMAS
from somagent.events.exceptions import ProduceError, TopicAdminError
from somagent.events.registry import SchemaRegistry


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """librdkafka settings of every SomaGent producer: idempotent, ``acks=all``."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        # Java's murmur2 partitioner, the same as Faust/aiokafka and the Java clients:
        # a session's events land on one partition whichever client appends them.
        "partitioner": "murmur2_random",
    }
    config.update(overrides)
    return config


class KafkaSchemaLog:
    """Publish to and read from the ``schemas`` topic."""

    def __init__(self, settings: Settings, *, topic: str = SCHEMAS, timeout_s: float = 30.0):
        self._settings = settings
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._lock = threading.Lock()

    def publish(self, fingerprint: bytes, schema_json: str) -> None:
        """Store the schema; return once the broker acknowledged it (``acks=all``).

        Raises:
            ProduceError: not acknowledged within ``timeout_s``.
        """
        if self._producer is None:
            self._producer = Producer(producer_config(self._settings, **{"linger.ms": 0}))
        errors: list[str] = []

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        key = fingerprint.hex()
        self._producer.produce(
            self.topic, value=schema_json.encode(), key=key, on_delivery=delivered
        )
        remaining = self._producer.flush(self.timeout_s)
        if errors or remaining:
            raise ProduceError(
                f"schema {key} not stored in topic {self.topic} at "
                f"{self._settings.kafka_servers}: {errors or 'flush timed out'}"
            )

    def _open(self) -> Consumer:
        consumer = Consumer(
            {
                "bootstrap.servers": self._settings.kafka_servers,
                "group.id": "somagent-schema-log",  # never commits: assign(), not subscribe()
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        metadata = consumer.list_topics(self.topic, timeout=self.timeout_s).topics.get(self.topic)
        if metadata is None or metadata.error is not None:
            consumer.close()
            raise TopicAdminError(
                f"topic {self.topic} is missing at {self._settings.kafka_servers}; "
                "run ensure_topics (somagent up)"
            )
        consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        )
        return consumer

    def fetch_new(self) -> list[tuple[bytes, str]]:
        """Schemas appended since the previous call (all of them on the first call)."""
        with self._lock:
            if self._consumer is None:
                self._consumer = self._open()
            return self._read_to_end(self._consumer)

    def _read_to_end(self, consumer: Consumer) -> list[tuple[bytes, str]]:
        parts = consumer.assignment()
        ends = {}
        for tp in parts:
            low, high = consumer.get_watermark_offsets(tp, timeout=self.timeout_s)
            ends[tp.partition] = (low, high)
        found: list[tuple[bytes, str]] = []
        deadline = time.monotonic() + self.timeout_s
        while not self._at_end(consumer, ends):
            if time.monotonic() > deadline:
                raise TopicAdminError(
                    f"could not read topic {self.topic} to its end within {self.timeout_s}s"
                )
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            key, value = msg.key(), msg.value()
            if key is None or value is None:
                continue
            try:
                found.append((bytes.fromhex(key.decode()), value.decode()))
            except (ValueError, UnicodeDecodeError):
                continue  # not a schema record; the registry only trusts fingerprint-checked ones
        return found

    @staticmethod
    def _at_end(consumer: Consumer, ends: dict[int, tuple[int, int]]) -> bool:
        positions = consumer.position(list(consumer.assignment()))
        for tp in positions:
            low, high = ends[tp.partition]
            if high <= low:
                continue
            if tp.offset < 0 or tp.offset < high:
                return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
            if self._producer is not None:
                self._producer.flush(self.timeout_s)
                self._producer = None


def kafka_registry(settings: Settings, *, load: bool = True) -> SchemaRegistry:
    """A registry backed by the ``schemas`` topic, optionally pre-loaded with all of it."""
    registry = SchemaRegistry(KafkaSchemaLog(settings))
    if load:
        registry.refresh()
    return registry
