"""Errors raised by the event contract, the codec and the catalog (Kafka I/O: ``somagent.kafka``).

Every decode error carries the Kafka position it came from (``where``) and a short
machine-readable ``reason`` (``not-single-object``, ``unknown-fingerprint``,
``corrupt-body``, ``unknown-event-type``) that the dead-letter header repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

from somagent.exceptions import SomagentError


@dataclass(frozen=True, slots=True)
class Where:
    """A Kafka position, or ``<memory>`` for bytes that never touched a topic."""

    topic: str = "<memory>"
    partition: int = -1
    offset: int = -1

    def __str__(self) -> str:
        return f"topic={self.topic} partition={self.partition} offset={self.offset}"


NOWHERE = Where()


class EventsError(SomagentError):
    """Root of the event-contract errors."""


class ContractError(EventsError):
    """The ``schemas/avro/`` contract cannot be loaded (bad JSON, dangling name, ...)."""


class IncompatibleSchema(EventsError):
    """A schema cannot read data written with another under Avro resolution rules."""


class EncodeError(EventsError):
    """An event does not fit the writer schema; the message names its type and id."""


class UnknownTopic(EventsError):
    """A topic name or event type is not in the catalog."""


class DecodeError(EventsError):
    """Bytes at ``where`` could not be decoded into an event.

    ``reason`` is a stable short code, also written to the dead-letter header.
    """

    reason = "undecodable"

    def __init__(self, detail: str, where: Where = NOWHERE) -> None:
        self.detail = detail
        self.where = where
        super().__init__(f"{self.reason}: {detail} ({where})")


class NotSingleObject(DecodeError):
    """The bytes do not start with the Avro single-object marker ``C3 01``."""

    reason = "not-single-object"


class UnknownFingerprint(DecodeError):
    """No writer schema with this CRC-64-AVRO fingerprint is known, even after a refresh."""

    reason = "unknown-fingerprint"


class CorruptBody(DecodeError):
    """The Avro body is truncated, has trailing bytes or does not match the writer schema."""

    reason = "corrupt-body"


class SchemaMismatch(DecodeError):
    """The writer's data cannot be resolved into the reader's schema."""

    reason = "schema-mismatch"


class UnknownEventType(DecodeError):
    """The event decoded, but its type has no branch in the reader's payload union."""

    reason = "unknown-event-type"
