"""The topic catalog: every topic of the platform, its key, partitions and retention.

Pure data and rules: creating and describing the topics on a broker is
:mod:`somagent.kafka.admin` (``ensure_topics``, ``describe_topics``).

Keys decide ordering: all events with the same key land on one partition, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from somagent.config import Settings
from somagent.contract import names
from somagent.events.exceptions import UnknownTopic

CONVERSATION = "conversation.events"
BILLING_USAGE = "billing.usage"
BILLING_LEDGER = "billing.ledger"
MEMORY = "memory.events"
GATEWAY_AUDIT = "gateway.audit"
SCHEMAS = "schemas"
DEAD_LETTER = "deadletter.events"
JOBS = "jobs.events"
ARTIFACTS = "artifacts.events"
POLICY = "policy.events"
POLICY_DECISIONS = "policy.decisions"

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
    Topic(JOBS, "job id", "job lifecycle: submitted, steps, approvals, compensations, end"),
    Topic(ARTIFACTS, "artifact id", "marketplace agents: published, updated, installed, revoked"),
    Topic(POLICY, "policy hash", "policies: registered, signed, activated, revoked"),
    Topic(POLICY_DECISIONS, "tenant id", "OPA decision log: every allow/deny with policy and rule"),
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
            names.BRAIN_FEEDBACK_GIVEN,
            names.BRAIN_WEIGHTS_UPDATED,
            names.TENANT_DATA_ERASED,
        ),
        MEMORY,
    ),
    names.USAGE_RECORDED: BILLING_USAGE,
    names.USAGE_WINDOW_CLOSED: BILLING_LEDGER,
    names.GATEWAY_REQUEST_AUDITED: GATEWAY_AUDIT,
    names.POLICY_DENIED: GATEWAY_AUDIT,
    **dict.fromkeys(names.JOB_EVENTS, JOBS),
    names.CAPSULE_RECALLED: GATEWAY_AUDIT,
    **dict.fromkeys(
        (
            names.AGENT_PUBLISHED,
            names.AGENT_UPDATED,
            names.AGENT_INSTALLED,
            names.AGENT_UNINSTALLED,
            names.AGENT_REVOKED,
        ),
        ARTIFACTS,
    ),
    **dict.fromkeys(names.POLICY_EVENTS, POLICY),
    names.POLICY_DECISION_LOGGED: POLICY_DECISIONS,
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


def _artifact_key(event: Mapping[str, Any]) -> str:
    payload = event["payload"]
    return _text(payload.get("agent_id") or payload.get("capsule_id") or event["tenant"])


def _ledger_key(event: Mapping[str, Any]) -> str:
    payload = event["payload"]
    start = payload["window_start"]
    start_us = start if isinstance(start, int) else (start - _EPOCH) // _MICROSECOND
    parts = (event["tenant"], payload["agent"], event.get("session"), start_us)
    return "/".join(_text(p) for p in parts)


def _policy_key(event: Mapping[str, Any]) -> str:
    return _text(event["payload"]["policy_hash"])


def _job_key(event: Mapping[str, Any]) -> str:
    return _text(event["payload"]["job_id"])


_KEYS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    CONVERSATION: _session_key,
    BILLING_USAGE: _tenant_key,
    BILLING_LEDGER: _ledger_key,
    MEMORY: _tenant_key,
    GATEWAY_AUDIT: _tenant_key,
    JOBS: _job_key,
    ARTIFACTS: _artifact_key,
    POLICY: _policy_key,
    POLICY_DECISIONS: _tenant_key,
}


def key_for(topic_name: str, event: Mapping[str, Any]) -> bytes:
    """The record key for ``event`` on ``topic_name``, per the catalog.

    Topics outside the catalog (tests, ad-hoc) are keyed by session like
    ``conversation.events``. Window starts in ledger keys are epoch microseconds.
    """
    return _KEYS.get(topic_name, _session_key)(event).encode()
