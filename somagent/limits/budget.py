"""Session token budgets in Redis: the ``sess:{session}`` hash and two Lua scripts.

The hash (written by the edge when it mints a session, TTL = session lifetime)
holds at least ``tenant``, ``token_budget`` and ``tokens_used`` (reserved or
spent tokens). :meth:`RedisTokenBudget.reserve` pre-authorises tokens
atomically: it reserves all of them or none, and never lets ``tokens_used``
exceed ``token_budget``. :meth:`RedisTokenBudget.settle` replaces a reservation
by the actual spend once it is known (tokens come back when the actual is lower).
Scripts run alone on the server, so concurrent turns of one session can never
over-spend, whatever process they run in.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from somagent.limits.base import BudgetDecision
from somagent.limits.exceptions import GuardUnavailable, InvalidLimit

# KEYS[1] = sess:{session}; ARGV[1] = tokens. Returns {status, remaining}:
# status 1 reserved, 0 exhausted, -1 missing.
RESERVE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local budget = tonumber(redis.call('HGET', KEYS[1], 'token_budget') or '0')
local used = tonumber(redis.call('HGET', KEYS[1], 'tokens_used') or '0')
local want = tonumber(ARGV[1])
if used + want > budget then return {0, budget - used} end
redis.call('HINCRBY', KEYS[1], 'tokens_used', want)
return {1, budget - used - want}
"""

# KEYS[1] = sess:{session}; ARGV = reserved, actual. Returns the remaining budget
# (-1 when the session is gone: nothing to settle). Used never drops below zero.
SETTLE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local budget = tonumber(redis.call('HGET', KEYS[1], 'token_budget') or '0')
local used = tonumber(redis.call('HGET', KEYS[1], 'tokens_used') or '0')
local new = used - tonumber(ARGV[1]) + tonumber(ARGV[2])
if new < 0 then new = 0 end
redis.call('HSET', KEYS[1], 'tokens_used', new)
return budget - new
"""

STATUS = {1: "reserved", 0: "exhausted", -1: "missing"}


def session_key(session: str) -> str:
    """``sess:{session}``: the session's budget snapshot."""
    return f"sess:{session}"


class RedisTokenBudget:
    """:class:`~somagent.limits.base.TokenBudget` over one Redis server."""

    def __init__(self, redis: Redis[bytes]) -> None:
        self._redis = redis
        self._reserve = redis.register_script(RESERVE_LUA)
        self._settle = redis.register_script(SETTLE_LUA)

    async def open(
        self, session: str, token_budget: int, ttl_s: int, fields: Mapping[str, str | int]
    ) -> None:
        """Write the snapshot (``tokens_used`` = 0) with a TTL of ``ttl_s`` seconds."""
        if token_budget < 0 or ttl_s < 1:
            raise InvalidLimit(f"{session_key(session)}: budget >= 0 and ttl_s >= 1 required")
        key = session_key(session)
        mapping: dict[str, str | int] = {**fields, "token_budget": token_budget, "tokens_used": 0}
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
                pipe.expire(key, ttl_s)
                await pipe.execute()
        except RedisError as exc:
            raise GuardUnavailable(f"writing {key} failed: {exc}") from exc

    async def snapshot(self, session: str) -> dict[str, str]:
        """The hash as strings; empty when the session is unknown or expired."""
        key = session_key(session)
        try:
            raw = await self._redis.hgetall(key)
        except RedisError as exc:
            raise GuardUnavailable(f"reading {key} failed: {exc}") from exc
        return {_text(k): _text(v) for k, v in raw.items()}

    async def reserve(self, session: str, tokens: int) -> BudgetDecision:
        """Reserve ``tokens`` (>= 0) of the session's budget, all or nothing."""
        if tokens < 0:
            raise InvalidLimit(f"{session_key(session)}: cannot reserve {tokens} tokens")
        try:
            status, remaining = await self._reserve(keys=[session_key(session)], args=[tokens])
        except RedisError as exc:
            raise GuardUnavailable(f"reserving on {session_key(session)} failed: {exc}") from exc
        name = STATUS[int(status)]
        return BudgetDecision(name, int(remaining), tokens if name == "reserved" else 0)

    async def settle(self, session: str, reserved: int, actual: int) -> int:
        """Replace a reservation of ``reserved`` by ``actual`` spent; remaining budget or -1."""
        if reserved < 0 or actual < 0:
            raise InvalidLimit(f"{session_key(session)}: reserved and actual must be >= 0")
        try:
            return int(await self._settle(keys=[session_key(session)], args=[reserved, actual]))
        except RedisError as exc:
            raise GuardUnavailable(f"settling on {session_key(session)} failed: {exc}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
