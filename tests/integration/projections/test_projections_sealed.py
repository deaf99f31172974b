"""Sealed PII in the projections: ClickHouse holds the ciphertext the log holds, and
replay --verify still rebuilds every read model equal after the tenant's key is
destroyed (crypto-shredding keeps the log intact and replayable)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from projection_helpers import PopulatedLog, caught_up, log_ends

from somagent.config import Settings
from somagent.contract import names
from somagent.erasure.keys import TenantKeys
from somagent.erasure.master import master_key
from somagent.events.envelope import make_event
from somagent.events.examples import example_payloads
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_codec
from somagent.projections.clickhouse import connect
from somagent.projections.replay import replay_clickhouse, replay_postgres
from somagent.projections.run import ProjectorThreads
from somagent.wait import until

pytestmark = pytest.mark.integration

SECRET = "the board meets secretly on Friday"


def test_sealed_fields_project_as_ciphertext_and_replay_verifies_after_erasure(
    proj_settings: Settings, populated: PopulatedLog, live: ProjectorThreads
) -> None:
    sealing = proj_settings.model_copy(update={"seal_pii": True})
    tenant, session, turn = (str(uuid.uuid4()) for _ in range(3))
    payloads = example_payloads(3)
    producer = EventProducer(sealing, kafka_codec(sealing))
    try:
        for seq, (kind, extra) in enumerate(((names.TURN_REQUESTED, {"turn_id": turn,
                                              "session_id": session, "text": SECRET}),
                                             (names.TURN_ANSWERED, {"text": SECRET}))):
            producer.send(make_event(kind, {**payloads[kind], **extra}, tenant=tenant,
                                     producer="test", session=session, turn=turn, seq=seq,
                                     trace_id=uuid.uuid4().hex))
    finally:
        producer.close()

    async def destroy() -> None:
        pool = await asyncpg.create_pool(sealing.postgres_dsn, min_size=1, max_size=2)
        try:
            await TenantKeys(pool, master_key(sealing.home_dir)).destroy(tenant)
        finally:
            await pool.close()

    asyncio.run(destroy())
    ends = log_ends(proj_settings)
    until(lambda: caught_up(live, ends), timeout_s=120, what="live projectors caught up")
    rows = connect(proj_settings).query(
        # The test's own events: a turn worker of another test may run this request too.
        "SELECT type, payload FROM events FINAL WHERE tenant = {t:String} "
        "AND producer = 'test' ORDER BY seq",
        {"t": tenant})
    assert [r["type"] for r in rows] == [names.TURN_REQUESTED, names.TURN_ANSWERED]
    assert all('"text":"enc1:' in r["payload"] and SECRET not in r["payload"] for r in rows)
    pg = asyncio.run(replay_postgres(proj_settings, verify=True, live_name="itp-postgres"))
    ch = replay_clickhouse(proj_settings, verify=True, live_name="itp-clickhouse")
    for report in (pg, ch):
        assert all(t.equal for t in report.tables), [t.table for t in report.tables
                                                     if not t.equal]
