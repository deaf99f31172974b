"""Sliding-window rate limit in Redis: one sorted set per window, one Lua script.

Key layout: ``rate:{tenant}:{tool}`` (see :func:`rate_key`), a sorted set whose
members are admitted calls and whose scores are their admission times in epoch
milliseconds — the same layout the tool broker's gate (``somagent.tools.gates``)
writes, so both see one window per tenant and tool. Time comes from the Redis
server (``TIME``), so every process shares one clock.

* :meth:`RedisSlidingWindow.acquire` admits a call of ``cost`` c when, in every
  key, the calls of the last ``window_ms`` plus c stay within ``limit``, and then
  adds c members to every key (all or nothing, atomically: Redis runs a script
  alone).
* :meth:`RedisSlidingWindow.peek` asks the same question without taking a slot
  (the edge uses it: the broker takes the slots when calls really happen).

Guarantees: never more than ``limit`` admissions in any window of ``window_ms``
per key (exact, not approximate); a denied call changes nothing; keys expire
one window after their last admission.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from somagent.limits.base import RateDecision
from somagent.limits.exceptions import GuardUnavailable, InvalidLimit

# KEYS: the windows. ARGV: limit, window_ms, cost, member prefix, take (1) or only look (0).
# Returns {allowed (1/0), retry_after_ms, remaining, index of the denying key (1-based, 0)}.
SLIDING_WINDOW_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local take = ARGV[5] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local remaining = limit
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local used = redis.call('ZCARD', key)
  if used + cost > limit then
    local retry = window
    local need = used + cost - limit
    local oldest = redis.call('ZRANGE', key, need - 1, need - 1, 'WITHSCORES')
    if oldest[2] then retry = tonumber(oldest[2]) + window - now end
    if retry < 1 then retry = 1 end
    return {0, retry, limit - used, i}
  end
  if limit - used - cost < remaining then remaining = limit - used - cost end
end
if take then
  for _, key in ipairs(KEYS) do
    for j = 1, cost do
      redis.call('ZADD', key, now, ARGV[4] .. ':' .. now .. ':' .. j)
    end
    redis.call('PEXPIRE', key, window)
  end
end
return {1, 0, remaining, 0}
"""


def rate_key(tenant: str, tool: str) -> str:
    """``rate:{tenant}:{tool}``: the window shared by the edge and the tool broker."""
    return f"rate:{tenant}:{tool}"


class RedisSlidingWindow:
    """:class:`~somagent.limits.base.RateLimiter` over one Redis server."""

    def __init__(self, redis: Redis[bytes]) -> None:
        self._redis = redis
        self._script = redis.register_script(SLIDING_WINDOW_LUA)
        self._prefix = secrets.token_hex(6)  # members stay unique across processes
        self._counter = 0

    async def acquire(
        self, keys: Sequence[str], limit: int, window_ms: int, cost: int = 1
    ) -> RateDecision:
        """Take ``cost`` slots in every window of ``keys`` or none at all.

        Raises:
            InvalidLimit: no keys, ``limit`` < 0, ``window_ms`` < 1 or ``cost`` < 1.
            GuardUnavailable: Redis did not answer.
        """
        return await self._run(keys, limit, window_ms, cost, take=True)

    async def peek(
        self, keys: Sequence[str], limit: int, window_ms: int, cost: int = 1
    ) -> RateDecision:
        """Whether :meth:`acquire` would admit now; takes nothing (expired entries are pruned)."""
        return await self._run(keys, limit, window_ms, cost, take=False)

    async def _run(
        self, keys: Sequence[str], limit: int, window_ms: int, cost: int, *, take: bool
    ) -> RateDecision:
        if not keys:
            raise InvalidLimit("a rate check needs at least one rate key")
        if limit < 0 or window_ms < 1 or cost < 1:
            raise InvalidLimit(
                f"rate limit for {list(keys)}: limit {limit} >= 0, window {window_ms} ms >= 1 "
                f"and cost {cost} >= 1 required"
            )
        self._counter += 1
        member = f"{self._prefix}.{self._counter}"
        try:
            allowed, retry_ms, remaining, index = await self._script(
                keys=list(keys), args=[limit, window_ms, cost, member, 1 if take else 0]
            )
        except RedisError as exc:
            raise GuardUnavailable(f"rate limit on {list(keys)} failed: {exc}") from exc
        if int(allowed) == 1:
            return RateDecision(True, 0, int(remaining))
        return RateDecision(
            False, max(1, int(retry_ms)), max(0, int(remaining)), keys[int(index) - 1]
        )
