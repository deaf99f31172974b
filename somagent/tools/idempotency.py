"""Idempotency records for side-effect tool calls in Redis (``idem:{tool}:{key}``, 24 h).

Implements :class:`somagent.tools.broker.IdempotencyStore`: ``claim`` is one
``SET key "started" NX EX ttl`` (atomic, so two workers racing on the same call
cannot both run it); ``store`` overwrites the claim with the recorded result
keeping a TTL.
"""

from __future__ import annotations

from typing import Any


class RedisIdempotencyStore:
    """Over a ``redis.asyncio.Redis`` client (``decode_responses`` either way)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def claim(self, key: str, ttl_s: int) -> bool:
        return bool(await self.client.set(key, "started", nx=True, ex=ttl_s))

    async def load(self, key: str) -> str | None:
        raw = await self.client.get(key)
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def store(self, key: str, value: str, ttl_s: int) -> None:
        await self.client.set(key, value, ex=ttl_s)
