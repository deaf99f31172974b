"""Bring a fresh installation's constitution up: gate rules in OPA, the default policy.

:func:`ensure_default` (run by ``somagent up`` after Kafka, Postgres and OPA are
ready; idempotent) registers :data:`~somagent.policy.defaults.DEFAULT_POLICY`,
signs it with the local constitution keys it finds under ``SOMAGENT_HOME`` (k of
them) and syncs OPA to the active set. Without local private keys (a real
installation) the default is registered but stays inactive until k key holders sign.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from somagent.config import Settings
from somagent.events.codec import EventCodec
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_codec
from somagent.policy import constitution
from somagent.policy.defaults import DEFAULT_POLICY, DEFAULT_POLICY_HASH
from somagent.policy.opa import OpaClient
from somagent.policy.service import PolicyService

log = logging.getLogger(__name__)


async def _ensure(settings: Settings, producer: EventProducer) -> str:
    pg = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2, timeout=10)
    opa = OpaClient(settings.opa_endpoint)
    try:
        service = PolicyService(pg, producer.append, opa, constitution.load(settings),
                                producer="stack")
        row, _ = await service.register(DEFAULT_POLICY, "stack")
        if row.status == "registered":
            for key in constitution.local_private_keys(settings)[: settings.constitution_k]:
                key_id, signature = constitution.sign(key, DEFAULT_POLICY_HASH)
                row, _ = await service.sign(DEFAULT_POLICY_HASH, key_id, signature)
        await service.sync()
        return row.status
    finally:
        await opa.close()
        await pg.close()


def _codec(settings: Settings, timeout_s: float = 60.0) -> EventCodec:
    """The schema-log codec; topics created a moment ago may not have a leader yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return kafka_codec(settings)
        except Exception as exc:  # the broker's "not leader" while topics settle
            if time.monotonic() > deadline:
                raise
            log.info("schemas topic not ready yet (%s); retrying", exc)
            time.sleep(0.5)


def ensure_default(settings: Settings, *, local_keys: bool = True) -> str:
    """Register (and with local keys activate) the default policy; sync OPA. Returns
    the default policy's status."""
    if local_keys:
        constitution.ensure_local_keys(settings)
    producer = EventProducer(settings, _codec(settings))
    try:
        return asyncio.run(_ensure(settings, producer))
    finally:
        producer.close()
