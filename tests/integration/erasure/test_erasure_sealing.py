"""PII fields sealed with the tenant's data key on the real log; opened only where
the text is needed; unreadable for good once the key is destroyed (crypto-shredding)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.contract import names
from somagent.erasure.cipher import ERASED
from somagent.erasure.keys import TenantKeys
from somagent.erasure.master import master_key
from somagent.erasure.sealer import FieldSealer
from somagent.events.catalog import CONVERSATION
from somagent.events.codec import EventCodec
from somagent.events.envelope import make_event
from somagent.events.examples import example_payloads
from somagent.kafka.admin import partitions_of
from somagent.kafka.producer import EventProducer
from somagent.kafka.reader import LogReader
from somagent.kafka.schema_log import kafka_codec, kafka_registry
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration

SECRET = "call Alice on +44 20 7946 0958 about the merger"


@pytest.fixture(scope="module")
def sealing(stack: RunningStack) -> Iterator[Settings]:
    yield stack.settings.model_copy(update={"seal_pii": True})


async def _tenant(settings: Settings) -> str:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        tenant, _ = await create_tenant(conn, f"seal-{uuid.uuid4().hex[:6]}")
    finally:
        await conn.close()
    return tenant.tenant_id


def _event(kind: str, tenant: str, **payload: object) -> dict[str, object]:
    return make_event(kind, {**example_payloads(2)[kind], **payload}, tenant=tenant,
                      producer="test", session=str(uuid.uuid4()), turn=str(uuid.uuid4()),
                      trace_id=uuid.uuid4().hex)


def _read_back(settings: Settings, codec: EventCodec, event_id: str) -> dict[str, object]:
    reader = LogReader(settings, partitions_of(settings, [CONVERSATION], 10), {},
                       name=f"test-{uuid.uuid4().hex}", config={})
    try:
        for _ in range(200):
            for msg in reader.messages(500, 0.2):
                event = codec.decode(msg.value())
                if str(event["event_id"]) == event_id:
                    return event
    finally:
        reader.close()
    raise AssertionError(f"event {event_id} not found on {CONVERSATION}")


async def test_pii_fields_are_sealed_on_the_log_and_open_only_with_the_key(
    sealing: Settings, stack: RunningStack
) -> None:
    tenant = await _tenant(sealing)
    sealed_codec = kafka_codec(sealing)  # projectors, replay, audit: no opening
    plain_codec = kafka_codec(stack.settings)  # sealing off
    opener = EventCodec(kafka_registry(sealing),
                        sealer=FieldSealer(sealing, open_fields=True, refresh_s=0.0))
    event = _event(names.TURN_REQUESTED, tenant, text=SECRET)
    data = sealed_codec.encode(event)
    assert SECRET.encode() not in data and b"+44 20" not in data
    assert sealed_codec.decode(data)["payload"]["text"].startswith("enc1:dk-")
    assert plain_codec.decode(data)["payload"]["text"].startswith("enc1:dk-")
    assert opener.decode(data)["payload"]["text"] == SECRET
    # Fields that are not PII stay in clear; other event types are untouched.
    assert sealed_codec.decode(data)["payload"]["allow_tools"] == event["payload"]["allow_tools"]
    usage = _event(names.TURN_COMPLETED, tenant)
    assert plain_codec.decode(sealed_codec.encode(usage))["payload"] == usage["payload"]
    # Nested evidence text is sealed too.
    recalled = _event(names.TURN_RECALLED, tenant)
    texts = [e["text"] for e in recalled["payload"]["evidence"]]  # type: ignore[index]
    raw = sealed_codec.encode(recalled)
    assert all(t.encode() not in raw for t in texts)
    assert [e["text"] for e in opener.decode(raw)["payload"]["evidence"]] == texts
    # Through the real broker: the log holds the sealed bytes.
    producer = EventProducer(sealing, sealed_codec)
    try:
        await producer.append(event)
    finally:
        producer.close()
    logged = await asyncio.to_thread(_read_back, sealing, plain_codec, str(event["event_id"]))
    assert str(logged["payload"]["text"]).startswith("enc1:")  # type: ignore[index]
    # Crypto-shredding: once the key is destroyed the same bytes open as erased.
    pool = await asyncpg.create_pool(sealing.postgres_dsn, min_size=1, max_size=2)
    try:
        await TenantKeys(pool, master_key(sealing.home_dir)).destroy(tenant)
    finally:
        await pool.close()
    assert opener.decode(data)["payload"]["text"] == ERASED
    assert opener.decode(raw)["payload"]["evidence"][0]["text"] == ERASED
    # The undecryptable log still decodes everywhere (replay needs no key).
    assert sealed_codec.decode(data)["event_id"] == event["event_id"]
    # New data of the tenant gets a new key and is readable again.
    fresh = FieldSealer(sealing, open_fields=True, refresh_s=0.0)
    again = EventCodec(kafka_registry(sealing), sealer=fresh)
    assert again.decode(again.encode(event))["payload"]["text"] == SECRET
