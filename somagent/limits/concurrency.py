"""Concurrent turns per tenant: the owner of the Redis ``conc:{tenant}`` sorted set.

Members are turn ids; scores are the epoch ms after which the slot lapses by
itself (the turn's deadline plus the stream grace): a slot whose release was
lost (an edge killed mid-turn, a client gone before the end) is freed then, never
held forever. :meth:`RedisConcurrency.acquire` prunes lapsed slots and adds the
turn only when fewer than ``limit`` remain (atomic: one script, run alone on the
server, so concurrent requests in any process never exceed the limit);
:meth:`release` removes the turn (idempotent). Time comes from the Redis server.

Guarantees: at most ``limit`` live slots per tenant at any instant; a denied
acquire changes nothing; its Retry-After hint is 1 s (a running turn may end at
any moment).
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from somagent.limits.base import RateDecision
from somagent.limits.exceptions import GuardUnavailable, InvalidLimit

# KEYS[1] = conc:{tenant}; ARGV = limit, turn id, lifetime ms.
# Returns {allowed (1/0), retry_after_ms, slots left}.
ACQUIRE_LUA = """
local limit = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local used = redis.call('ZCARD', KEYS[1])
if used >= limit then
  return {0, 1000, 0}
end
local lapse = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], lapse, ARGV[2])
local last = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIREAT', KEYS[1], last)
return {1, 0, limit - used - 1}
"""


def concurrency_key(tenant: str) -> str:
    """``conc:{tenant}``: the tenant's running turns."""
    return f"conc:{tenant}"


class RedisConcurrency:
    """Per-tenant concurrent-turn slots over one Redis server (see the module doc)."""

    def __init__(self, redis: Redis[bytes]) -> None:
        self._redis = redis
        self._script = redis.register_script(ACQUIRE_LUA)

    async def acquire(self, tenant: str, turn: str, limit: int, lifetime_ms: int) -> RateDecision:
        """Hold a slot for ``turn`` for at most ``lifetime_ms``, or nothing if ``limit`` are held.

        Raises:
            InvalidLimit: ``limit`` < 0 or ``lifetime_ms`` < 1.
            GuardUnavailable: Redis did not answer.
        """
        key = concurrency_key(tenant)
        if limit < 0 or lifetime_ms < 1:
            raise InvalidLimit(f"{key}: limit {limit} >= 0 and lifetime {lifetime_ms} ms >= 1 "
                               "required")
        try:
            allowed, retry_ms, left = await self._script(keys=[key],
                                                         args=[limit, turn, lifetime_ms])
        except RedisError as exc:
            raise GuardUnavailable(f"concurrency slots {key} failed: {exc}") from exc
        if int(allowed) == 1:
            return RateDecision(True, 0, int(left))
        return RateDecision(False, int(retry_ms), 0, key)

    async def release(self, tenant: str, turn: str) -> None:
        """Free ``turn``'s slot (nothing if it is not held)."""
        key = concurrency_key(tenant)
        try:
            await self._redis.zrem(key, turn)
        except RedisError as exc:
            raise GuardUnavailable(f"releasing {turn} in {key} failed: {exc}") from exc

    async def held(self, tenant: str) -> int:
        """Slots held now, lapsed ones included until the next acquire prunes them."""
        try:
            return int(await self._redis.zcard(concurrency_key(tenant)))
        except RedisError as exc:
            raise GuardUnavailable(f"reading {concurrency_key(tenant)} failed: {exc}") from exc
