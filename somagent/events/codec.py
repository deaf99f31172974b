"""Avro single-object encoding of envelopes.

Wire format (Avro specification, "Single-object encoding")::

    C3 01 | 8-byte little-endian CRC-64-AVRO of the writer schema's canonical form | body

The body is fastavro's schemaless binary encoding of the envelope. Decoding looks
the writer schema up by fingerprint (via the registry, which falls back to the
``schemas`` topic) and reads into this codec's reader schema with Avro resolution.

Guarantees: ``decode(encode(e))`` returns ``e`` with UUID fields as
:class:`uuid.UUID` and timestamps as UTC :class:`datetime.datetime`; every decode
failure raises a :class:`~somagent.events.exceptions.DecodeError` naming where the
bytes came from; a body must be consumed exactly (trailing bytes are corruption).
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from somagent.events import schemas
from somagent.events.exceptions import (
    NOWHERE,
    CorruptBody,
    DecodeError,
    EncodeError,
    NotSingleObject,
    SchemaMismatch,
    UnknownEventType,
    UnknownFingerprint,
    Where,
)
from somagent.events.registry import SchemaRegistry, WriterSchema

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8

_UUID = uuid.UUID
_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
).fullmatch
_TRACE_ID = re.compile(r"[0-9a-f]{32}").fullmatch
_ZERO_TRACE = "0" * 32
_BytesIO = io.BytesIO
# Typed as Any-returning: fastavro's union return type does not help callers here.
_read: Callable[..., Any] = schemaless_reader


class FieldSealer(Protocol):
    """Seals PII payload fields on encode and (when ``open_fields``) opens them on decode
    (:class:`somagent.erasure.sealer.FieldSealer`)."""

    open_fields: bool

    def seal(self, kind: str, tenant: str, payload: Mapping[str, Any]) -> Mapping[str, Any]: ...

    def open(self, kind: str, tenant: str, payload: Mapping[str, Any]) -> Mapping[str, Any]: ...


class EventCodec:
    """Encode envelopes with one writer schema; decode any known writer schema.

    ``writer`` defaults to the working contract (``schemas/avro/``); ``reader``
    defaults to the writer. Constructing a codec registers (and, with a
    Kafka-backed registry, publishes) the writer schema, so the schema is durable
    before any event written with it.
    """

    def __init__(
        self,
        registry: SchemaRegistry | None = None,
        *,
        writer: dict[str, Any] | None = None,
        reader: dict[str, Any] | None = None,
        sealer: FieldSealer | None = None,
    ) -> None:
        self.sealer = sealer
        self.registry = registry if registry is not None else SchemaRegistry()
        self.writer: WriterSchema = self.registry.register(
            writer if writer is not None else schemas.envelope_schema()
        )
        self.reader: WriterSchema = self.writer if reader is None else WriterSchema.build(reader)
        self.header = MAGIC + self.writer.fingerprint
        self._types = self.writer.payload_types
        self._envelope_uuids = self.writer.uuid_fields.get("", ())
        self._payload_uuids = self.writer.uuid_fields
        self._reader_types = self.reader.payload_types
        self._parsed = self.writer.parsed

    @property
    def fingerprint(self) -> bytes:
        return self.writer.fingerprint

    def encode(self, event: Mapping[str, Any]) -> bytes:
        """Single-object bytes for ``event`` (an envelope whose ``payload`` is a dict).

        Raises:
            EncodeError: unknown ``type``, or the event does not fit the schema.
        """
        kind = event.get("type")
        full = self._types.get(kind) if isinstance(kind, str) else None
        if full is None or not isinstance(kind, str):
            raise EncodeError(
                f"event type {kind!r} is not in the payload union of {self.writer.schema['name']}"
                f" (event_id={event.get('event_id')})"
            )
        payload = event.get("payload")
        if type(payload) is not dict and not isinstance(payload, Mapping):
            raise EncodeError(f"{kind} event {event.get('event_id')}: payload is not a mapping")
        if self.sealer is not None:
            payload = self.sealer.seal(kind, str(event.get("tenant")), payload)
        trace = event.get("trace_id")
        if not (isinstance(trace, str) and _TRACE_ID(trace)) or trace == _ZERO_TRACE:
            raise EncodeError(
                f"{kind} event {event.get('event_id')}: trace_id must be a W3C trace id "
                f"(32 lowercase hex digits, not all zero), got {trace!r}"
            )
        self._check_uuids(event, self._envelope_uuids, event, "")
        self._check_uuids(payload, self._payload_uuids.get(kind, ()), event, "payload.")
        record = dict(event)
        record["payload"] = (full, payload)
        out = _BytesIO()
        out.write(self.header)
        try:
            schemaless_writer(out, self._parsed, record)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            raise EncodeError(
                f"{kind} event {event.get('event_id')} does not fit the schema: {exc}"
            ) from exc
        return out.getvalue()

    @staticmethod
    def _check_uuids(
        values: Mapping[str, Any], names: tuple[str, ...], event: Mapping[str, Any], prefix: str
    ) -> None:
        # fastavro would write any text into a uuid field and readers would then
        # fail to parse it; refuse it here, where the producer can still fix it.
        for name in names:
            value = values.get(name)
            if value is None or value.__class__ is _UUID:
                continue
            if not (isinstance(value, str) and _UUID_TEXT(value)):
                raise EncodeError(
                    f"{event.get('type')} event {event.get('event_id')}: field {prefix}{name} "
                    f"must be a UUID, got {value!r}"
                )

    def decode(self, data: bytes, where: Where = NOWHERE) -> dict[str, Any]:
        """The envelope in ``data``, read into this codec's reader schema.

        Raises:
            NotSingleObject: no ``C3 01`` marker or fewer than 10 bytes.
            UnknownFingerprint: no known writer schema, even after a registry refresh.
            UnknownEventType: the event's type is not in the reader's payload union.
            CorruptBody: truncated, trailing bytes or undecodable values.
        """
        if data is None or len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise NotSingleObject(
                f"{0 if data is None else len(data)} bytes do not start with C3 01 "
                "and an 8-byte fingerprint",
                where,
            )
        fp = data[2:HEADER_SIZE]
        writer = self.writer if fp == self.writer.fingerprint else self.registry.lookup(fp)
        if writer is None:
            raise UnknownFingerprint(
                f"writer schema {fp.hex()} is not in the registry or the schemas topic", where
            )
        body = _BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            if writer.fingerprint == self.reader.fingerprint:  # same canonical form
                event: dict[str, Any] = _read(body, writer.parsed, None)
            else:
                event = _read(body, writer.parsed, self.reader.parsed)
        except SchemaResolutionError as exc:
            raise self._resolution_error(data, writer, where, exc) from exc
        except Exception as exc:  # fastavro raises many types on garbage
            raise CorruptBody(
                f"body of {len(data) - HEADER_SIZE} bytes does not decode with writer schema "
                f"{fp.hex()}: {type(exc).__name__}: {exc}",
                where,
            ) from exc
        if body.tell() != len(data):
            raise CorruptBody(
                f"{len(data) - body.tell()} trailing bytes after the body (writer {fp.hex()})",
                where,
            )
        if self.sealer is not None and self.sealer.open_fields:
            event["payload"] = dict(self.sealer.open(
                str(event.get("type")), str(event.get("tenant")), event["payload"]))
        return event

    def _resolution_error(
        self, data: bytes, writer: WriterSchema, where: Where, exc: Exception
    ) -> DecodeError:
        kind: str | None
        try:
            plain: dict[str, Any] = _read(_BytesIO(data[HEADER_SIZE:]), writer.parsed, None)
            kind = str(plain["type"])
        except Exception:  # the body itself is bad; report the resolution failure
            kind = None
        if kind is not None and kind not in self._reader_types:
            return UnknownEventType(
                f"event type {kind!r} (writer {writer.fingerprint.hex()}) is not in this "
                f"reader's payload union",
                where,
            )
        return SchemaMismatch(
            f"writer {writer.fingerprint.hex()} cannot be resolved into reader "
            f"{self.reader.fingerprint.hex()}: {exc}",
            where,
        )
