"""Budget reconciliation: the Redis ``sess:{session}`` snapshot corrected from the ledger.

The edge writes ``sess:{session}`` (a hash with ``token_budget`` and
``tokens_used``, TTL = session lifetime; see ``somagent.limits.budget``) and
pre-authorises turns atomically against it. The ledger is the authority on what
was spent, so after ledger rows are projected an existing snapshot is corrected
with absolute values (idempotent, safe to repeat; a missing hash stays missing):

========================= ===================================================
field                     meaning (written here)
========================= ===================================================
``ledger_tokens``         tokens in the session's ledger rows (all revisions)
``ledger_cost_cents``     cost_cents summed over the same rows
``tokens_used``           raised to ``ledger_tokens`` when the edge's count is lower
``over_budget``           ``1`` once ``ledger_tokens >= token_budget``, else ``0``
``reconciled_at_us``      when this correction ran (epoch µs)
========================= ===================================================

Because ``tokens_used`` is raised to the ledger's total, the edge's own
reservation script refuses every further turn of a session over budget;
:func:`turn_allowed` states the same check for callers that only read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol


def session_key(session: str) -> str:
    return f"sess:{session}"


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
_RECONCILE = """
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
        done = await redis.eval(
            _RECONCILE, 1, session_key(t.session), str(t.tokens), str(t.cost_cents), budget, now_us
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
