"""The topic catalog: every topic of the platform, its key, partitions and retention.

``ensure_topics`` creates missing topics and leaves existing ones alone, so it is
safe to call from every process start (``somagent up``, tests, workers).
``describe_topics`` reports each topic's live configuration next to the catalog's
expectation, for ``somagent topics``.

Keys decide ordering: all events with the same key land on one partition, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
)

from somagent.config import Settings
from somagent.contract import names
from somagent.events.exceptions import TopicAdminError, UnknownTopic

CONVERSATION = "conversation.events"
BILLING_USAGE = "billing.usage"
BILLING_LEDGER = "billing.ledger"
MEMORY = "memory.events"
GATEWAY_AUDIT = "gateway.audit"
SCHEMAS = "schemas"
DEAD_LETTER = "deadletter.events"

FOREVER_MS = -1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Topic:
    """One topic of the catalog.

    ``partitions=None`` means ``settings.topic_partitions``. ``retention_ms=-1`` keeps
    records forever: the log is the source of truth and replay reads it from offset 0.
    """

    name: str
    key: str
    doc: str
    partitions: int | None = None
    cleanup_policy: str = "delete"
    retention_ms: int = FOREVER_MS
    extra_config: Mapping[str, str] = field(default_factory=dict)

    def partition_count(self, settings: Settings) -> int:
        return self.partitions if self.partitions is not None else settings.topic_partitions

    def config(self) -> dict[str, str]:
        """The topic-level configuration the catalog asks the broker for."""
        conf = {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}
        conf.update(self.extra_config)
        return conf


TOPICS: tuple[Topic, ...] = (
    Topic(CONVERSATION, "session id", "turn lifecycle and session events"),
    Topic(BILLING_USAGE, "tenant id", "one usage record per metered act"),
    Topic(
        BILLING_LEDGER,
        "tenant/agent/session/minute",
        "closed one-minute usage windows and their corrections (additive rows)",
    ),
    Topic(MEMORY, "tenant id", "remember requests and writes, capsule upload/revoke"),
    Topic(GATEWAY_AUDIT, "tenant id", "every authenticated request and every denial"),
    Topic(
        SCHEMAS,
        "fingerprint (16 hex digits, little-endian CRC-64-AVRO)",
        "every writer schema ever used, so old events stay readable",
        partitions=1,
        cleanup_policy="compact",
        extra_config={"min.compaction.lag.ms": "0"},
    ),
    Topic(
        DEAD_LETTER,
        "the original record's key",
        "undecodable records, byte for byte, with the reason and source position in headers",
        partitions=1,
        retention_ms=90 * _DAY_MS,
    ),
)

_BY_NAME = {t.name: t for t in TOPICS}

# Which topic each event type is appended to by default.
EVENT_TOPICS: dict[str, str] = {
    **dict.fromkeys(
        (
            names.SESSION_MINTED,
            names.SESSION_EXPIRED,
            names.TURN_REQUESTED,
            names.TURN_CANCEL_REQUESTED,
            names.TURN_RECALLED,
            names.TURN_PLANNED,
            names.TOOL_CALL_REQUESTED,
            names.TOOL_CALL_DELTA,
            names.TOOL_CALL_COMPLETED,
            names.TOOL_CALL_FAILED,
            names.TURN_VERIFIED,
            names.TURN_ANSWERED,
            names.TURN_FAILED,
            names.TURN_COMPLETED,
        ),
        CONVERSATION,
    ),
    **dict.fromkeys(
        (
            names.MEMORY_REMEMBER_REQUESTED,
            names.MEMORY_REMEMBERED,
            names.MEMORY_REMEMBER_REJECTED,
            names.CAPSULE_UPLOADED,
            names.CAPSULE_REVOKED,
        ),
        MEMORY,
    ),
    names.USAGE_RECORDED: BILLING_USAGE,
    names.USAGE_WINDOW_CLOSED: BILLING_LEDGER,
    names.GATEWAY_REQUEST_AUDITED: GATEWAY_AUDIT,
    names.POLICY_DENIED: GATEWAY_AUDIT,
}


def topic(name: str) -> Topic:
    """The catalog entry for ``name``; raise :class:`UnknownTopic` if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownTopic(f"topic {name!r} is not in the catalog") from None


def topic_for(event_type: str) -> str:
    """The topic an event of ``event_type`` is appended to."""
    try:
        return EVENT_TOPICS[event_type]
    except KeyError:
        raise UnknownTopic(f"event type {event_type!r} has no topic in the catalog") from None


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _session_key(event: Mapping[str, Any]) -> str:
    session = event.get("session")
    if session is None:
        # Session-less conversation events keep their order per turn instead.
        session = event.get("turn") or event["tenant"]
    return _text(session)


def _tenant_key(event: Mapping[str, Any]) -> str:
    return _text(event["tenant"])


def _ledger_key(event: Mapping[str, Any]) -> str:
    payload = event["payload"]
    start = payload["window_start"]
    start_us = start if isinstance(start, int) else (start - _EPOCH) // _MICROSECOND
    parts = (event["tenant"], payload["agent"], event.get("session"), start_us)
    return "/".join(_text(p) for p in parts)


_KEYS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    CONVERSATION: _session_key,
    BILLING_USAGE: _tenant_key,
    BILLING_LEDGER: _ledger_key,
    MEMORY: _tenant_key,
    GATEWAY_AUDIT: _tenant_key,
}


def key_for(topic_name: str, event: Mapping[str, Any]) -> bytes:
    """The record key for ``event`` on ``topic_name``, per the catalog.

    Topics outside the catalog (tests, ad-hoc) are keyed by session like
    ``conversation.events``. Window starts in ledger keys are epoch microseconds.
    """
    return _KEYS.get(topic_name, _session_key)(event).encode()


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka_servers})


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
