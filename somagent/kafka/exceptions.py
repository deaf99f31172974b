"""Errors of the Kafka I/O layer; each names the topic, partition, key or broker involved."""

from __future__ import annotations

from typing import Any

from somagent.exceptions import SomagentError


class LogUnavailable(SomagentError):
    """Root: Kafka did not do what was asked (in time). The edge answers 503 for it."""


class ProduceError(LogUnavailable):
    """The broker refused a record or did not acknowledge it in time; names topic and key."""


class AppendInDoubt(ProduceError):
    """Not acknowledged in time, but not refused either: the records may still land.

    ``outcome`` (an asyncio future) settles with the positions or the failure once the
    client gives its final answer (bounded by librdkafka's ``message.timeout.ms``);
    a caller that must know (idempotency) awaits it instead of assuming a loss.
    """

    def __init__(self, message: str, outcome: Any) -> None:
        super().__init__(message)
        self.outcome = outcome


class ConsumeError(LogUnavailable):
    """A consumer hit a fatal broker error; names the topics."""


class ReadError(LogUnavailable):
    """A positioned read did not reach the offsets it was asked for in time."""


class TopicAdminError(LogUnavailable):
    """Creating, describing or finding a topic failed; names the topic and broker."""
