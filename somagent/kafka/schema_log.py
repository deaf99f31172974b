"""The compacted ``schemas`` topic as a :class:`~somagent.events.registry.SchemaLog`.

Key: the fingerprint as 16 lowercase hex digits (little-endian CRC-64-AVRO, the
same 8 bytes the single-object header carries). Value: the schema's JSON.
Publishing waits for ``acks=all``; reading goes to the end of the topic (the high
watermarks taken at the start of the read).
"""

from __future__ import annotations

import threading
from typing import Any

from somagent.config import Settings
from somagent.events.catalog import SCHEMAS
from somagent.events.codec import EventCodec
from somagent.events.registry import SchemaRegistry
from somagent.kafka.admin import partitions_of
from somagent.kafka.exceptions import TopicAdminError
from somagent.kafka.producer import EventProducer
from somagent.kafka.reader import LogReader


class KafkaSchemaLog:
    """Publish to and read from the ``schemas`` topic."""

    def __init__(self, settings: Settings, *, topic: str = SCHEMAS, timeout_s: float = 30.0):
        self._settings = settings
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer: EventProducer | None = None
        self._reader: LogReader | None = None
        self._lock = threading.Lock()

    def publish(self, fingerprint: bytes, schema_json: str) -> None:
        """Store the schema; return once the broker acknowledged it (``acks=all``).

        Raises:
            ProduceError: not acknowledged within ``timeout_s``.
        """
        if self._producer is None:
            self._producer = EventProducer(self._settings, config={"linger.ms": 0})
        key = fingerprint.hex().encode()
        self._producer.deliver_raw(
            self.topic, schema_json.encode(), key, [], timeout_s=self.timeout_s
        )

    def _open(self) -> LogReader:
        parts = partitions_of(self._settings, [self.topic], self.timeout_s)
        if not parts:
            raise TopicAdminError(
                f"topic {self.topic} is missing at {self._settings.kafka_servers}; "
                "run ensure_topics (somagent up)"
            )
        return LogReader(self._settings, parts, {}, name="schema-log", config={})

    def fetch_new(self) -> list[tuple[bytes, str]]:
        """Schemas appended since the previous call (all of them on the first call)."""
        with self._lock:
            if self._reader is None:
                self._reader = self._open()
            found: list[tuple[bytes, str]] = []
            for msg in self._reader.read_to_end(self.timeout_s):
                key, value = msg.key(), msg.value()
                if key is None or value is None:
                    continue
                try:
                    found.append((bytes.fromhex(key.decode()), value.decode()))
                except (ValueError, UnicodeDecodeError):
                    continue  # not a schema record; the registry only trusts checked ones
            return found

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            if self._producer is not None:
                self._producer.close(self.timeout_s)
                self._producer = None


def kafka_registry(settings: Settings, *, load: bool = True) -> SchemaRegistry:
    """A registry backed by the ``schemas`` topic, optionally pre-loaded with all of it."""
    registry = SchemaRegistry(KafkaSchemaLog(settings))
    if load:
        registry.refresh()
    return registry


def kafka_codec(
    settings: Settings, *, writer: dict[str, Any] | None = None, open_fields: bool = False
) -> EventCodec:
    """A codec whose registry is the ``schemas`` topic (pre-loaded), for real processes.

    Its writer schema (default: the working contract) is published on construction.
    With ``SOMAGENT_SEAL_PII`` on it seals PII fields on encode, and opens them on
    decode only with ``open_fields`` (the edge, turn workers, Memory Gateway).
    """
    from somagent.erasure.sealer import sealer_for

    return EventCodec(kafka_registry(settings), writer=writer,
                      sealer=sealer_for(settings, open_fields=open_fields))
