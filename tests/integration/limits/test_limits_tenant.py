"""Per-tenant guards against the real Redis: the tokens-per-minute bucket and turn slots."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from somagent.limits.concurrency import RedisConcurrency, concurrency_key
from somagent.limits.exceptions import InvalidLimit
from somagent.limits.tenant_tokens import RedisTenantTokens, tpm_key
from somagent.stack.stack import RunningStack
from somagent.wait import until_async

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(stack: RunningStack) -> AsyncIterator[Redis]:  # type: ignore[type-arg]
    client = Redis.from_url(stack.settings.redis_dsn)
    yield client
    await client.aclose()


async def test_bucket_takes_exactly_its_size_under_concurrency(redis: Redis) -> None:  # type: ignore[type-arg]
    bucket = RedisTenantTokens(redis)
    tenant = str(uuid.uuid4())
    # 60,000 tokens per minute refill 1 token per ms: 40 takes of 1000 from a full bucket
    # of 6000 admit 6 plus at most what refilled while they ran (well under 1000 per ms).
    decisions = await asyncio.gather(*(bucket.take(tenant, 1000, 6000) for _ in range(40)))
    admitted = sum(d.allowed for d in decisions)
    assert 6 <= admitted <= 7
    denied = [d for d in decisions if not d.allowed]
    assert all(d.key == tpm_key(tenant) and d.retry_after_ms >= 1 for d in denied)
    assert all(d.retry_after_ms <= 10_000 for d in denied)  # 1000 tokens at 100/s


async def test_a_denied_take_changes_nothing_and_give_back_refills(redis: Redis) -> None:  # type: ignore[type-arg]
    bucket = RedisTenantTokens(redis)
    tenant = str(uuid.uuid4())
    assert (await bucket.take(tenant, 590, 600)).allowed  # 10 left; refill 10 per s
    before = await redis.hgetall(tpm_key(tenant))
    denied = await bucket.take(tenant, 500, 600)
    assert not denied.allowed and denied.remaining <= 20
    assert denied.retry_after_ms >= 40_000  # ~49 s for 490 tokens at 10 per s
    assert await redis.hgetall(tpm_key(tenant)) == before
    await bucket.give_back(tenant, 590, 600)
    assert (await bucket.take(tenant, 600, 600)).allowed
    too_big = await bucket.take(tenant, 601, 600)
    assert not too_big.allowed and too_big.retry_after_ms == 60_000
    assert 0 < await redis.pttl(tpm_key(tenant)) <= 61_000
    with pytest.raises(InvalidLimit):
        await bucket.take(tenant, 1, 0)


async def test_slots_never_exceed_the_limit_and_lapse_by_themselves(redis: Redis) -> None:  # type: ignore[type-arg]
    slots = RedisConcurrency(redis)
    tenant = str(uuid.uuid4())
    turns = [str(uuid.uuid4()) for _ in range(20)]
    decisions = await asyncio.gather(*(slots.acquire(tenant, t, 3, 60_000) for t in turns))
    held = [t for t, d in zip(turns, decisions, strict=True) if d.allowed]
    assert len(held) == 3 and await slots.held(tenant) == 3
    assert all(d.retry_after_s == 1 for d in decisions if not d.allowed)
    await slots.release(tenant, held[0])
    await slots.release(tenant, held[0])  # idempotent
    assert (await slots.acquire(tenant, "late", 3, 60_000)).allowed
    assert not (await slots.acquire(tenant, "one-more", 3, 60_000)).allowed
    # A slot whose release is lost lapses at its lifetime (here 200 ms).
    other = str(uuid.uuid4())
    assert (await slots.acquire(other, "lost", 1, 200)).allowed
    assert not (await slots.acquire(other, "next", 1, 200)).allowed

    async def lapsed() -> bool:
        return bool((await slots.acquire(other, "next", 1, 60_000)).allowed)

    await until_async(lapsed, timeout_s=10, what="the lost slot to lapse")
    assert await redis.zrange(concurrency_key(other), 0, -1) == [b"next"]
