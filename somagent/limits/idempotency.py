"""Idempotency keys in Redis: first writer wins, for a time to live.

``claim`` is one ``SET key value NX EX ttl``: exactly one caller among any number
of concurrent ones gets ``None`` (it owns the key); every other caller gets the
owner's value. ``release`` deletes the key and ``extend`` sets its time to live,
each only if it still holds the caller's value (compare-and-act in Lua), so a
late call never touches someone else's claim. A caller that may fail before it
knows the outcome claims for a short lease and extends it once it does: a claim
it could not release (Redis down) then expires by itself.
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from somagent.limits.exceptions import GuardUnavailable, InvalidLimit

DAY_S = 24 * 3600

RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
EXTEND_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def idem_key(scope: str, tenant: str, client_key: str) -> str:
    """``idem:{scope}:{tenant}:{sha256 of the client's key}`` (client keys are arbitrary text)."""
    digest = hashlib.sha256(client_key.encode("utf-8")).hexdigest()
    return f"idem:{scope}:{tenant}:{digest}"


class RedisIdempotency:
    """:class:`~somagent.limits.base.IdempotencyStore` over one Redis server."""

    def __init__(self, redis: Redis[bytes]) -> None:
        self._redis = redis
        self._release = redis.register_script(RELEASE_LUA)
        self._extend = redis.register_script(EXTEND_LUA)

    async def claim(self, key: str, value: str, ttl_s: int = DAY_S) -> str | None:
        """Store ``value`` under ``key`` unless present; None if stored, else the present value."""
        if ttl_s < 1:
            raise InvalidLimit(f"{key}: ttl_s must be >= 1, got {ttl_s}")
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key, value, nx=True, ex=ttl_s)
                pipe.get(key)
                stored, current = await pipe.execute()
        except RedisError as exc:
            raise GuardUnavailable(f"claiming {key} failed: {exc}") from exc
        if stored:
            return None
        if current is None:  # expired between SET and GET: treat as ours next time
            return await self.claim(key, value, ttl_s)
        return current.decode() if isinstance(current, bytes) else str(current)

    async def get(self, key: str) -> str | None:
        try:
            value = await self._redis.get(key)
        except RedisError as exc:
            raise GuardUnavailable(f"reading {key} failed: {exc}") from exc
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def extend(self, key: str, value: str, ttl_s: int) -> bool:
        """Set ``key``'s time to live to ``ttl_s`` if it still holds ``value``; True if set."""
        try:
            return bool(await self._extend(keys=[key], args=[value, int(ttl_s)]))
        except RedisError as exc:
            raise GuardUnavailable(f"extending {key} failed: {exc}") from exc

    async def release(self, key: str, value: str) -> bool:
        """Delete ``key`` if it still holds ``value``; True when deleted."""
        try:
            return bool(await self._release(keys=[key], args=[value]))
        except RedisError as exc:
            raise GuardUnavailable(f"releasing {key} failed: {exc}") from exc


class TurnRequestClaims:
    """Which turn a tenant's Idempotency-Key started, as the turn engine sees it.

    The edge already answers a retried key with the original turn; this is the
    engine's own guard for a second ``TurnRequested`` with the same key reaching
    the log anyway (an edge that lost track of an append): the first turn id to
    claim ``idem:turn-request:{tenant}:{sha256(key)}`` is *the* turn for that key.
    """

    def __init__(self, redis: Redis[bytes], ttl_s: int = DAY_S) -> None:
        self._claims = RedisIdempotency(redis)
        self.ttl_s = ttl_s

    async def first_turn(self, tenant: str, client_key: str, turn_id: str) -> str:
        """The turn that owns ``client_key`` for ``tenant`` (``turn_id`` if it is the first).

        Raises:
            GuardUnavailable: Redis failed.
        """
        key = idem_key("turn-request", tenant, client_key)
        owner = await self._claims.claim(key, turn_id, self.ttl_s)
        return turn_id if owner is None else owner

