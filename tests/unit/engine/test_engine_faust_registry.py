"""The Faust codec registration and the process-local schema registry."""

from __future__ import annotations

import pytest
from faust.serializers import codecs

from somagent.contract.envelope import plain
from somagent.engine.faust_codec import CODEC_NAME, AvroEventCodec, install_faust_codec
from somagent.events import schemas
from somagent.events.codec import EventCodec
from somagent.events.examples import example_events
from somagent.events.exceptions import ContractError, EventsError
from somagent.events.registry import SchemaRegistry


def test_faust_codec_round_trip_by_name() -> None:
    codec = EventCodec()
    installed = install_faust_codec(codec)
    assert codecs.get_codec(CODEC_NAME) is installed
    event = example_events(3)[5]
    data = codecs.dumps(CODEC_NAME, event)
    assert data == codec.encode(event)
    assert plain(codecs.loads(CODEC_NAME, data)) == plain(event)
    clone = installed.clone()
    assert isinstance(clone, AvroEventCodec) and clone.events is codec


def test_faust_codec_raises_on_garbage() -> None:
    install_faust_codec(EventCodec())
    with pytest.raises(EventsError):
        codecs.loads(CODEC_NAME, b"not avro at all")


def test_registry_register_is_idempotent() -> None:
    registry = SchemaRegistry()
    a = registry.register(schemas.envelope_schema())
    b = registry.register(schemas.envelope_schema())
    assert a is b and len(registry) == 1
    assert registry.lookup(a.fingerprint) is a
    assert registry.lookup(bytes(8)) is None
    assert a.payload_types["TurnRequested"] == "somagent.TurnRequested"


def test_registry_rejects_a_bad_schema() -> None:
    with pytest.raises(ContractError):
        SchemaRegistry().register(
            {"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}
        )
