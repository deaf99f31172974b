"""Errors of the Kafka I/O layer; each names the topic, partition, key or broker involved."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class LogUnavailable(SomagentError):
    """Root: Kafka did not do what was asked (in time). The edge answers 503 for it."""


class ProduceError(LogUnavailable):
    """The broker refused a record or did not acknowledge it in time; names topic and key."""


class ConsumeError(LogUnavailable):
    """A consumer hit a fatal broker error; names the topics."""


class ReadError(LogUnavailable):
    """A positioned read did not reach the offsets it was asked for in time."""


class TopicAdminError(LogUnavailable):
    """Creating, describing or finding a topic failed; names the topic and broker."""
