"""Tokens per minute per tenant: the owner of the Redis ``tpm:{tenant}`` token bucket.

A bucket holds at most ``tokens_per_min`` tokens and refills continuously at
``tokens_per_min / 60`` tokens per second; a turn takes its reservation (the same
number of tokens the session budget pre-authorises) from its tenant's bucket
before anything is appended, all or nothing. Time comes from the Redis server
(``TIME``), so every edge process shares one clock; the script runs alone on the
server, so concurrent turns of one tenant, in any process, never over-draw.

Guarantees: over any interval of T seconds a tenant takes at most
``tokens_per_min · (1 + T/60)`` tokens (a full bucket plus the refill); a denied
take changes nothing and says in ``retry_after_ms`` when the bucket will hold
enough; a request larger than the whole bucket is denied with the time a full
bucket would take (it can never pass; the caller should say so). :meth:`give_back`
returns tokens of a turn that was refused later (budget, append failure), capped
at the bucket size. The key expires once the bucket would be full again.

Hash fields: ``tokens`` (float, tokens in the bucket), ``at_ms`` (server ms of
the last update).
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from somagent.limits.base import RateDecision
from somagent.limits.exceptions import GuardUnavailable, InvalidLimit

# KEYS[1] = tpm:{tenant}; ARGV = capacity (tokens per minute), cost, take (1) or give (0).
# Returns {allowed (1/0), retry_after_ms, tokens left (floor)}.
BUCKET_LUA = """
local cap = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local take = ARGV[3] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = cap / 60000.0
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or tostring(cap))
local at = tonumber(redis.call('HGET', KEYS[1], 'at_ms') or tostring(now))
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
if take then
  if cost > tokens then
    local need = math.min(cost, cap) - tokens
    local wait = math.ceil(need / rate)
    if cost > cap then wait = 60000 end
    if wait < 1 then wait = 1 end
    return {0, wait, math.floor(tokens)}
  end
  tokens = tokens - cost
else
  tokens = math.min(cap, tokens + cost)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at_ms', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - tokens) / rate) + 1000)
return {1, 0, math.floor(tokens)}
"""


def tpm_key(tenant: str) -> str:
    """``tpm:{tenant}``: the tenant's tokens-per-minute bucket."""
    return f"tpm:{tenant}"


class RedisTenantTokens:
    """Per-tenant tokens-per-minute buckets over one Redis server (see the module doc)."""

    def __init__(self, redis: Redis[bytes]) -> None:
        self._script = redis.register_script(BUCKET_LUA)

    async def take(self, tenant: str, tokens: int, tokens_per_min: int) -> RateDecision:
        """Take ``tokens`` from ``tenant``'s bucket of size ``tokens_per_min``, or nothing.

        Raises:
            InvalidLimit: ``tokens`` < 0 or ``tokens_per_min`` < 1.
            GuardUnavailable: Redis did not answer.
        """
        return await self._run(tenant, tokens, tokens_per_min, take=True)

    async def give_back(self, tenant: str, tokens: int, tokens_per_min: int) -> None:
        """Return ``tokens`` taken by a turn that did not start (capped at the bucket size)."""
        if tokens > 0:
            await self._run(tenant, tokens, tokens_per_min, take=False)

    async def _run(self, tenant: str, tokens: int, tokens_per_min: int, *,
                   take: bool) -> RateDecision:
        key = tpm_key(tenant)
        if tokens < 0 or tokens_per_min < 1:
            raise InvalidLimit(f"{key}: tokens {tokens} >= 0 and tokens_per_min "
                               f"{tokens_per_min} >= 1 required")
        try:
            allowed, retry_ms, left = await self._script(
                keys=[key], args=[tokens_per_min, tokens, 1 if take else 0])
        except RedisError as exc:
            raise GuardUnavailable(f"tokens-per-minute bucket {key} failed: {exc}") from exc
        if int(allowed) == 1:
            return RateDecision(True, 0, int(left))
        return RateDecision(False, max(1, int(retry_ms)), int(left), key)
