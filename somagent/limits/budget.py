"""Session token budgets: the owner of the Redis ``sess:{session}`` hash and its scripts.

Nothing else reads or writes the hash. The edge writes it when it mints a session
(TTL = session lifetime): at least ``tenant``, ``token_budget`` and
``tokens_used`` (reserved or spent tokens). :meth:`RedisTokenBudget.reserve`
pre-authorises tokens atomically: it reserves all of them or none, and never lets
``tokens_used`` exceed ``token_budget``. :meth:`RedisTokenBudget.settle` replaces
a reservation by the actual spend once it is known (tokens come back when the
actual is lower). Scripts run alone on the server, so concurrent turns of one
session can never over-spend, whatever process they run in.

The ledger is the authority on what was spent, so after ledger rows are
projected :func:`reconcile` corrects an existing snapshot with absolute values
(idempotent, safe to repeat; a missing hash stays missing):

========================= ===================================================
field                     meaning (written by :func:`reconcile`)
========================= ===================================================
``ledger_tokens``         tokens in the session's ledger rows (all revisions)
``ledger_cost_cents``     cost_cents summed over the same rows
``tokens_used``           raised to ``ledger_tokens`` when the edge's count is lower
``over_budget``           ``1`` once ``ledger_tokens >= token_budget``, else ``0``
``reconciled_at_us``      when this correction ran (epoch µs)
========================= ===================================================

Because ``tokens_used`` is raised to the ledger's total, the reservation script
refuses every further turn of a session over budget; :func:`turn_allowed` states
the same check for callers that only read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

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

# KEYS[1] = sess:{session}; ARGV = ttl_s, then field/value pairs. Creates the hash only
# when it does not exist (1 created, 0 already there): callers that open a budget
# concurrently (a job's parallel turn steps) never reset each other's reservations.
OPEN_ONCE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
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
        self._open_once = redis.register_script(OPEN_ONCE_LUA)

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

    async def open_once(
        self, session: str, token_budget: int, ttl_s: int, fields: Mapping[str, str | int]
    ) -> bool:
        """Like :meth:`open`, but only when the snapshot does not exist; True if created."""
        if token_budget < 0 or ttl_s < 1:
            raise InvalidLimit(f"{session_key(session)}: budget >= 0 and ttl_s >= 1 required")
        mapping: dict[str, str | int] = {**fields, "token_budget": token_budget, "tokens_used": 0}
        flat = [str(x) for pair in mapping.items() for x in pair]
        try:
            created = await self._open_once(keys=[session_key(session)], args=[ttl_s, *flat])
        except RedisError as exc:
            raise GuardUnavailable(f"opening {session_key(session)} failed: {exc}") from exc
        return bool(int(created))

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


@dataclass(frozen=True, slots=True)
class LedgerTotal:
    """A session's ledger sums and its budget (None when the session is unknown)."""

    session: str
    tokens: int
    cost_cents: int
    token_budget: int | None

    @property
    def over_budget(self) -> bool:
        return self.token_budget is not None and self.tokens >= self.token_budget


# One atomic step per session: the edge's own reservations are never lost between
# a read and a write, and tokens_used only ever moves up to the ledger's value.
# The edge owns the hash's lifecycle (it writes it with the session's TTL), so a
# missing hash (expired or never opened session) is left missing.
RECONCILE_LUA = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'ledger_tokens', ARGV[1], 'ledger_cost_cents', ARGV[2],
           'reconciled_at_us', ARGV[4])
local used = tonumber(redis.call('HGET', key, 'tokens_used') or '0') or 0
local ledger = tonumber(ARGV[1])
if used < ledger then redis.call('HSET', key, 'tokens_used', ARGV[1]) end
local budget = tonumber(redis.call('HGET', key, 'token_budget') or ARGV[3])
if budget ~= nil and ledger >= budget then
  redis.call('HSET', key, 'over_budget', '1')
else
  redis.call('HSET', key, 'over_budget', '0')
end
return 1
"""


class AsyncRedis(Protocol):
    """The slice of ``redis.asyncio.Redis`` used here."""

    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any: ...

    async def hgetall(self, name: str) -> Any: ...


async def reconcile(redis: AsyncRedis, totals: list[LedgerTotal]) -> int:
    """Correct each existing session snapshot from its ledger totals; return how many."""
    now_us = str(time.time_ns() // 1000)
    corrected = 0
    for t in totals:
        budget = "" if t.token_budget is None else str(t.token_budget)
        key = session_key(t.session)
        done = await redis.eval(
            RECONCILE_LUA, 1, key, str(t.tokens), str(t.cost_cents), budget, now_us
        )
        corrected += int(done)
    return corrected


def _int(raw: dict[Any, Any], name: str) -> int | None:
    value = raw.get(name, raw.get(name.encode()))
    if value is None:
        return None
    return int(value.decode() if isinstance(value, bytes) else value)


async def turn_allowed(redis: AsyncRedis, session: str) -> bool:
    """False when the session is over its token budget (by the ledger or the edge's count)."""
    raw = await redis.hgetall(session_key(session))
    if _int(raw, "over_budget") == 1:
        return False
    budget, used = _int(raw, "token_budget"), _int(raw, "tokens_used")
    return budget is None or used is None or used < budget
