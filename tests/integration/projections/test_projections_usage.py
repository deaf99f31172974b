"""usage_for (GET /v1/usage) tenant isolation and budget reconciliation from the ledger."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from somagent.billing.ledger import LedgerRow, WindowKey
from somagent.billing.windows import MINUTE_US
from somagent.config import Settings
from somagent.events.codec import EventCodec
from somagent.events.envelope import make_event
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_registry
from somagent.limits.budget import RedisTokenBudget, turn_allowed
from somagent.projections.run import ProjectorThreads
from somagent.projections.usage import BadUsageQuery, usage_for
from somagent.wait import until

pytestmark = pytest.mark.integration
T0_US = 1_795_000_000_000_000 - 1_795_000_000_000_000 % (3600 * 1_000_000)  # an hour boundary


def _at(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _ledger(
    tenant: str, session: str, minute: int, tokens: int, revision: int = 0
) -> dict[str, Any]:
    key = WindowKey(tenant, "planner", session, T0_US + minute * MINUTE_US)
    return LedgerRow(key, revision, tokens, 1, 0, 0, tokens // 100, key.start_us + 1).envelope()


def _minted(tenant: str, session: str, budget: int) -> dict[str, Any]:
    payload = {
        "session_id": session,
        "persona_hash": "p" * 64,
        "policy_hash": "q" * 64,
        "token_budget": budget,
        "tools_per_min": 10,
        "capsule_ids": [],
        "expires_at": (datetime.now(UTC) + timedelta(hours=1)),
    }
    return make_event("SessionMinted", payload, tenant=tenant, session=session, producer="test")


async def _open_snapshots(settings: Settings, budgets: dict[str, int]) -> None:
    """What the edge does when it mints a session: sess:{session} with its budget and TTL."""
    r = aioredis.from_url(settings.redis_dsn)
    try:
        for session, tokens in budgets.items():
            await RedisTokenBudget(r).open(session, tokens, 3600, {"tenant": "t"})
    finally:
        await r.aclose()


@pytest.fixture(scope="module")
def two_tenants(settings: Settings, live: ProjectorThreads) -> dict[str, Any]:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    sa, sb = str(uuid.uuid4()), str(uuid.uuid4())
    asyncio.run(_open_snapshots(settings, {sa: 1000, sb: 10**9}))
    producer = EventProducer(settings, EventCodec(kafka_registry(settings)))
    events = [_minted(a, sa, 1000), _minted(b, sb, 10**9)]
    events += [_ledger(a, sa, m, 300) for m in range(5)]  # 1500 tokens > budget 1000
    events += [_ledger(a, sa, 2, 7, revision=1)]  # a correction
    events += [_ledger(b, sb, m, 50_000) for m in (0, 1, 61)]
    for e in events:
        producer.send(e)
    producer.close()
    return {"a": a, "b": b, "sa": sa, "sb": sb}


async def _rows(settings: Settings, tenant: str, group_by: str) -> list[dict[str, Any]]:
    return await usage_for(
        settings.postgres_dsn, tenant, _at(T0_US), _at(T0_US + 3 * 3600 * 1_000_000), group_by
    )


def test_usage_for_shows_only_the_calling_tenant(
    proj_settings: Settings, two_tenants: dict[str, Any]
) -> None:
    a, b = two_tenants["a"], two_tenants["b"]
    until(
        lambda: sum(r["tokens"] for r in asyncio.run(_rows(proj_settings, b, "day"))) == 150_000,
        timeout_s=60,
        what="tenant B's ledger rows projected",
    )
    until(
        lambda: sum(r["tokens"] for r in asyncio.run(_rows(proj_settings, a, "day"))) == 1507,
        timeout_s=60,
        what="tenant A's ledger rows projected",
    )
    by_minute = asyncio.run(_rows(proj_settings, a, "minute"))
    assert [r["tokens"] for r in by_minute] == [300, 300, 307, 300, 300]
    assert all(r["bucket"].tzinfo is not None for r in by_minute)
    by_hour = asyncio.run(_rows(proj_settings, b, "hour"))
    assert [(r["bucket"], r["tokens"]) for r in by_hour] == [
        (_at(T0_US), 100_000),
        (_at(T0_US + 3600 * 1_000_000), 50_000),
    ]
    assert asyncio.run(_rows(proj_settings, str(uuid.uuid4()), "hour")) == []
    with pytest.raises(BadUsageQuery):
        asyncio.run(_rows(proj_settings, a, "week"))


def test_budget_snapshot_is_corrected_from_the_ledger(
    proj_settings: Settings, two_tenants: dict[str, Any]
) -> None:
    async def snapshot(session: str) -> tuple[dict[bytes, bytes], bool]:
        r = aioredis.from_url(proj_settings.redis_dsn)
        try:
            return await r.hgetall(f"sess:{session}"), await turn_allowed(r, session)
        finally:
            await r.aclose()

    over = until(
        lambda: (
            (s := asyncio.run(snapshot(two_tenants["sa"])))[0].get(b"ledger_tokens") == b"1507"
            and s
        ),
        timeout_s=60,
        what="session A's snapshot reconciled",
    )
    assert over[0][b"over_budget"] == b"1" and over[0][b"token_budget"] == b"1000"
    assert int(over[0][b"tokens_used"]) >= 1507 and over[1] is False
    denied = asyncio.run(_reserve(proj_settings, two_tenants["sa"], 1))
    assert denied.status == "exhausted"  # the edge's own reservation refuses the next turn
    under = until(
        lambda: (
            (s := asyncio.run(snapshot(two_tenants["sb"])))[0].get(b"ledger_tokens") == b"150000"
            and s
        ),
        timeout_s=60,
        what="session B's snapshot reconciled",
    )
    assert under[0][b"over_budget"] == b"0" and under[1] is True
    assert asyncio.run(_reserve(proj_settings, two_tenants["sb"], 10)).status == "reserved"


async def _reserve(settings: Settings, session: str, tokens: int) -> Any:
    r = aioredis.from_url(settings.redis_dsn)
    try:
        return await RedisTokenBudget(r).reserve(session, tokens)
    finally:
        await r.aclose()
