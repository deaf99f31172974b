"""Rate and budget gates per tenant and tool: sliding windows in Redis.

:class:`RedisGate.admit` runs one Lua script (atomic on the server) over a
sorted set per ``(tenant, tool)``:

* **rate** – at most ``rate_limit`` calls in any ``window_ms`` (key
  ``rate:{tenant}:{tool}``, members are idempotency keys scored by time, so a
  retried or resumed call is not counted twice);
* **budget** – at most ``budget_units`` cost units in any ``window_ms`` (key
  ``budget:{tenant}:{tool}``, each member carries its units).

The rate limit of a call is the session's ``tools_per_min`` when its turn states
one, else the rate class's ``rate_limit``; either way capped by the tenant's plan
(:mod:`somagent.tools.quotas`, plans from ``plans``), with a one-minute window for
the session's value. A refusal says which gate (``rate-limit`` or ``budget``) and
when to retry (``retry_after_ms``, from the oldest entry leaving the window). Time is the
Redis server's clock in epoch ms (``TIME``), so every worker — and the edge's
``somagent.limits`` windows on the same ``rate:{tenant}:{tool}`` keys — share
one clock; tests may inject ``clock_ms``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from somagent.tools.quotas import effective_tools_per_min

_SCRIPT: Final = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = tonumber(ARGV[2])
local member = ARGV[3]
local rate_limit = tonumber(ARGV[4])
local budget_limit = tonumber(ARGV[5])
local units = tonumber(ARGV[6])
local floor = now - window
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', floor)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', floor)
if redis.call('ZSCORE', KEYS[1], member) then
  return {1, 0, 0}
end
local count = redis.call('ZCARD', KEYS[1])
if rate_limit >= 0 and count >= rate_limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 1, tonumber(oldest[2]) + window - now}
end
if budget_limit >= 0 then
  local spent = 0
  local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    spent = spent + tonumber(string.match(entries[i], '([%d%.]+)$'))
  end
  if spent + units > budget_limit then
    local retry = window
    if #entries > 0 then retry = tonumber(entries[2]) + window - now end
    return {0, 2, retry}
  end
  redis.call('ZADD', KEYS[2], now, member .. '|' .. tostring(units))
  redis.call('PEXPIRE', KEYS[2], window)
end
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0, 0}
"""

_REFUSALS: Final = {1: "rate-limit", 2: "budget"}


@dataclass(frozen=True)
class GateLimits:
    """Limits for one rate class; ``None`` disables that gate."""

    rate_limit: int | None = 60
    budget_units: float | None = None
    window_ms: int = 60_000


@dataclass(frozen=True)
class GateDecision:
    admitted: bool
    code: str = ""
    retry_after_ms: int = 0


class PlanSource(Protocol):
    """Which plan a tenant is on (:class:`somagent.tools.tenant_plans.TenantPlans`)."""

    async def plan(self, tenant: str) -> str | None: ...


SESSION_WINDOW_MS: Final = 60_000


@dataclass
class RedisGate:
    """Over a ``redis.asyncio.Redis`` client; limits per tool ``rate_class``; tenants'
    plans from ``plans`` (None: every tenant on the default plan)."""

    client: Any
    limits: Mapping[str, GateLimits] = field(default_factory=lambda: {"default": GateLimits()})
    clock_ms: Callable[[], int] | None = None
    plans: PlanSource | None = None

    async def rate_limit(
        self, tenant: str, lim: GateLimits, tools_per_min: int | None
    ) -> tuple[int | None, int]:
        """(calls allowed, window ms) for one call (see the module doc)."""
        if tools_per_min is None and lim.rate_limit is None:
            return None, lim.window_ms
        plan = await self.plans.plan(tenant) if self.plans is not None else None
        if tools_per_min is not None:
            return effective_tools_per_min(tools_per_min, plan), SESSION_WINDOW_MS
        return effective_tools_per_min(lim.rate_limit, plan), lim.window_ms

    async def admit(
        self,
        tenant: str,
        tool: str,
        rate_class: str,
        key: str,
        units: float = 1.0,
        tools_per_min: int | None = None,
    ) -> GateDecision:
        """Admit (and count) one call, or refuse it with the gate's code;
        ``tools_per_min`` is the session's value from the turn request, if stated."""
        lim = self.limits.get(rate_class) or self.limits.get("default") or GateLimits()
        rate, window_ms = await self.rate_limit(tenant, lim, tools_per_min)
        result = await self.client.eval(
            _SCRIPT,
            2,
            f"rate:{tenant}:{tool}",
            f"budget:{tenant}:{tool}",
            "" if self.clock_ms is None else self.clock_ms(),
            window_ms,
            key,
            -1 if rate is None else rate,
            -1 if lim.budget_units is None else lim.budget_units,
            units,
        )
        ok, which, retry = (int(x) for x in result)
        if ok:
            return GateDecision(True)
        return GateDecision(False, _REFUSALS.get(which, "rate-limit"), max(0, retry))
