"""Faust integration: agents read and write envelopes directly.

``install_faust_codec(codec)`` registers the codec under :data:`CODEC_NAME`
(``"somagent-avro"``), so ``app.topic(name, value_serializer="somagent-avro")``
yields envelope dicts and accepts them on ``send``. :class:`EventTopic` (create it
with :func:`event_topic`) also dead-letters undecodable records, with their
position, instead of throwing the error into the agent: the agent keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import faust
from faust.serializers import codecs
from faust.types import AppT, Message, TopicT

from somagent.events import tracing
from somagent.events.catalog import DEAD_LETTER, key_for
from somagent.events.codec import EventCodec
from somagent.events.exceptions import DecodeError, EventsError, Where
from somagent.kafka.dead_letter import DeadRecord, dead_letter, headers_of
from somagent.kafka.producer import EventProducer
from somagent.kafka.records import EVENT_TYPE_HEADER
from somagent.telemetry.tracing import current_traceparent

log = logging.getLogger(__name__)

CODEC_NAME = "somagent-avro"


class AvroEventCodec(codecs.Codec):
    """A Faust codec over :class:`EventCodec` (single-object Avro envelopes)."""

    def __init__(self, children: Any = None, **kwargs: Any) -> None:
        super().__init__(children, **kwargs)
        self.events: EventCodec = kwargs["events"]
        self.dead_letters: EventProducer | None = kwargs.get("dead_letters")
        self.dead_letter_topic: str = kwargs.get("dead_letter_topic", DEAD_LETTER)

    def _dumps(self, obj: Any) -> bytes:
        return self.events.encode(obj)

    def _loads(self, s: bytes) -> Any:
        return self.events.decode(s)


def install_faust_codec(
    codec: EventCodec,
    *,
    dead_letters: EventProducer | None = None,
    dead_letter_topic: str = DEAD_LETTER,
    name: str = CODEC_NAME,
) -> AvroEventCodec:
    """Register ``codec`` with Faust under ``name``.

    ``dead_letters`` is the producer :class:`EventTopic` uses to copy undecodable
    records to ``dead_letter_topic``.
    """
    faust_codec = AvroEventCodec(
        events=codec, dead_letters=dead_letters, dead_letter_topic=dead_letter_topic
    )
    codecs.register(name, faust_codec)
    return faust_codec


def installed_codec(name: str = CODEC_NAME) -> AvroEventCodec:
    """The codec registered under ``name``.

    Raises:
        EventsError: :func:`install_faust_codec` was not called in this process.
    """
    found = codecs.codecs.get(name)
    if not isinstance(found, AvroEventCodec):
        raise EventsError(f"Faust codec {name!r} is not installed; call install_faust_codec")
    return found


class EventTopic(faust.Topic):
    """A Faust topic of envelopes that dead-letters undecodable records."""

    async def on_value_decode_error(self, exc: Exception, message: Message) -> None:
        cause = exc.__cause__ if isinstance(exc.__cause__, DecodeError) else None
        where = Where(message.topic, message.partition, message.offset)
        error = (
            type(cause)(cause.detail, where)
            if cause is not None
            else DecodeError(f"{type(exc).__name__}: {exc}", where)
        )
        installed = installed_codec(self._codec_name())
        producer = installed.dead_letters
        if producer is None:
            log.error("no dead-letter producer installed; record at %s is only logged: %s",
                      where, error)
            return
        record = DeadRecord(where, message.key, message.value, headers_of(message.headers))
        dead_letter(
            producer, record, error.reason, str(error), topic=installed.dead_letter_topic
        )

    def _codec_name(self) -> str:
        serializer = self.value_serializer
        return serializer if isinstance(serializer, str) else CODEC_NAME


def event_topic(app: AppT, *names: str, name: str = CODEC_NAME) -> EventTopic:
    """An :class:`EventTopic` over ``names`` with raw keys and envelope values."""
    return EventTopic(app, topics=list(names), key_serializer="raw", value_serializer=name)


def raw_topic(app: AppT, *names: str) -> TopicT:
    """A topic of raw records: the agent decides what to decode (:func:`decode_if`)."""
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


def event_type_of(headers: Any) -> str | None:
    """The ``event-type`` header of a Faust message, or None when it has none."""
    for key, value in headers_of(headers):
        if key == EVENT_TYPE_HEADER:
            return value.decode("utf-8", "replace")
    return None


def decode_if(
    message: Message, wanted: frozenset[str], name: str = CODEC_NAME
) -> dict[str, Any] | None:
    """The envelope of ``message`` when its type is in ``wanted``, else None.

    The ``event-type`` header (every producer of the project writes it) decides
    before any decoding, so records of other types cost no Avro decode. A record
    without the header is decoded to learn its type. An undecodable record is
    dead-lettered like :class:`EventTopic` does, and None is returned.
    """
    kind = event_type_of(message.headers)
    if kind is not None and kind not in wanted:
        return None
    installed = installed_codec(name)
    where = Where(message.topic, message.partition, message.offset)
    try:
        envelope: dict[str, Any] = installed.events.decode(message.value or b"", where)
    except DecodeError as error:
        if installed.dead_letters is not None:
            record = DeadRecord(where, message.key, message.value, headers_of(message.headers))
            dead_letter(installed.dead_letters, record, error.reason, str(error),
                        topic=installed.dead_letter_topic)
        else:
            log.error("undecodable record at %s is only logged: %s", where, error)
        return None
    return envelope if str(envelope.get("type")) in wanted else None


async def send_event(
    topic: faust.Topic, event: Mapping[str, Any], *, traceparent: str | None = None
) -> Any:
    """Send ``event`` on a Faust topic with the catalog key and trace headers."""
    name = topic.get_topic_name()
    trace_id = str(event["trace_id"])
    parent = (traceparent or current_traceparent(trace_id)
              or tracing.format_traceparent(trace_id))
    return await topic.send(
        key=key_for(name, event),
        value=dict(event),
        headers=[
            (tracing.HEADER, parent.encode()),
            (EVENT_TYPE_HEADER, str(event["type"]).encode()),
        ],
    )
