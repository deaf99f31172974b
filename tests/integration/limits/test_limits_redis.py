"""The guards against the real Redis: exact windows, atomic budgets, first-writer claims."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from somagent.limits.budget import RedisTokenBudget, session_key
from somagent.limits.idempotency import RedisIdempotency
from somagent.limits.ratelimit import RedisSlidingWindow
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(stack: RunningStack) -> AsyncIterator[Redis]:  # type: ignore[type-arg]
    client = Redis.from_url(stack.settings.redis_dsn)
    yield client
    await client.aclose()


def key(prefix: str) -> str:
    return f"{prefix}:{uuid.uuid4().hex}"


async def test_window_admits_exactly_limit_under_concurrency(redis: Redis) -> None:  # type: ignore[type-arg]
    limiter = RedisSlidingWindow(redis)
    k = key("rate:test")
    decisions = await asyncio.gather(*(limiter.acquire([k], 10, 60_000) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10
    denied = [d for d in decisions if not d.allowed]
    assert all(d.key == k and 1 <= d.retry_after_ms <= 60_000 for d in denied)
    assert await redis.zcard(k) == 10
    assert 0 < await redis.pttl(k) <= 60_000


async def test_window_slides_and_retry_after_is_when_room_appears(redis: Redis) -> None:  # type: ignore[type-arg]
    limiter = RedisSlidingWindow(redis)
    k = key("rate:test")
    assert (await limiter.acquire([k], 2, 800)).allowed
    assert (await limiter.acquire([k], 2, 800)).allowed
    denied = await limiter.acquire([k], 2, 800)
    assert not denied.allowed and 1 <= denied.retry_after_ms <= 800
    started = time.monotonic()
    while not (await limiter.acquire([k], 2, 800)).allowed:
        assert time.monotonic() - started < 5
        await asyncio.sleep(0.05)
    # Room appeared no earlier than the hint said (minus clock granularity).
    assert time.monotonic() - started >= denied.retry_after_ms / 1000 - 0.05


async def test_multi_key_acquire_is_all_or_nothing(redis: Redis) -> None:  # type: ignore[type-arg]
    limiter = RedisSlidingWindow(redis)
    a, b = key("rate:a"), key("rate:b")
    assert (await limiter.acquire([b], 1, 60_000)).allowed  # b is full now
    d = await limiter.acquire([a, b], 1, 60_000)
    assert not d.allowed and d.key == b
    assert await redis.zcard(a) == 0  # nothing taken from a
    ok = await limiter.acquire([a], 1, 60_000, cost=1)
    assert ok.allowed and ok.remaining == 0


async def test_peek_takes_nothing_and_agrees_with_acquire(redis: Redis) -> None:  # type: ignore[type-arg]
    limiter = RedisSlidingWindow(redis)
    k = key("rate:peek")
    for _ in range(5):
        assert (await limiter.peek([k], 1, 60_000)).allowed
    assert await redis.zcard(k) == 0
    assert (await limiter.acquire([k], 1, 60_000)).allowed
    look = await limiter.peek([k], 1, 60_000)
    assert not look.allowed and look.key == k and 1 <= look.retry_after_ms <= 60_000
    # Scores are epoch milliseconds, like the tool broker's gate on the same keys.
    (_, score), = await redis.zrange(k, 0, 0, withscores=True)
    assert abs(score - time.time() * 1000) < 5_000


async def test_budget_reservations_never_overspend(redis: Redis) -> None:  # type: ignore[type-arg]
    budget = RedisTokenBudget(redis)
    s = uuid.uuid4().hex
    await budget.open(s, 1000, 60, {"tenant": "t"})
    results = await asyncio.gather(*(budget.reserve(s, 30) for _ in range(100)))
    assert sum(r.reserved_ok for r in results) == 33
    assert {r.status for r in results if not r.reserved_ok} == {"exhausted"}
    snap = await budget.snapshot(s)
    assert snap["tokens_used"] == "990" and snap["tenant"] == "t"
    assert await budget.settle(s, 30, 5) == 1000 - 965  # 25 tokens come back
    assert (await budget.reserve(s, 35)).reserved_ok
    assert (await budget.reserve(s, 1)).status == "exhausted"
    assert 0 < await redis.ttl(session_key(s)) <= 60
    assert (await budget.reserve(uuid.uuid4().hex, 1)).status == "missing"
    assert await budget.settle(uuid.uuid4().hex, 1, 1) == -1


async def test_idempotency_claim_has_one_winner_and_release_is_owner_only(
    redis: Redis,  # type: ignore[type-arg]
) -> None:
    idem = RedisIdempotency(redis)
    k = key("idem:test")
    results = await asyncio.gather(*(idem.claim(k, f"v{i}", 60) for i in range(20)))
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1
    owner = f"v{winners[0]}"
    assert {r for r in results if r is not None} == {owner}
    assert not await idem.release(k, "someone-else")
    assert await idem.get(k) == owner
    assert await idem.release(k, owner)
    assert await idem.claim(k, "next", 60) is None
    assert 0 < await redis.ttl(k) <= 60


async def test_a_lease_is_extended_only_by_its_owner(redis: Redis) -> None:  # type: ignore[type-arg]
    idem = RedisIdempotency(redis)
    k = f"idem:test:{uuid.uuid4()}"
    assert await idem.claim(k, "owner", 30) is None
    assert not await idem.extend(k, "someone-else", 86_400)
    assert 0 < await redis.ttl(k) <= 30
    assert await idem.extend(k, "owner", 86_400)
    assert await redis.ttl(k) > 30
