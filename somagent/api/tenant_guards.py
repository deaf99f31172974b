"""Per-tenant guards on a new turn: tokens per minute and concurrent turns (429s).

Taken after the session's token budget is reserved and before ``TurnRequested`` is
appended, in this order: the tenant's tokens-per-minute bucket (the turn's
reservation, :mod:`somagent.limits.tenant_tokens`), then a concurrent-turn slot
(:mod:`somagent.limits.concurrency`). A refusal gives back what was taken before
it, so a rejected request changes nothing. The limits come from the session
token (the tenant's plan limits at mint); a token without them is not throttled
per tenant.

A held slot is freed when the stream that started the turn sees its
``TurnCompleted`` (:func:`release_on_completion`), when the request fails
before the append (:func:`give_back`), or by itself at the turn's deadline plus
the stream grace (a client that went away, an edge that died).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from somagent.api.context import EdgeContext
from somagent.api.problems import throttled
from somagent.api.session_tokens import SessionClaims
from somagent.limits.exceptions import GuardUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Held:
    """What a turn holds of its tenant's allowances (to give back if it does not start)."""

    tenant: str
    turn: str
    tokens: int = 0
    tokens_per_min: int = 0
    slot: bool = False


def _lifetime_ms(ctx: EdgeContext) -> int:
    return ctx.edge.turn_deadline_ms + int(ctx.edge.stream_grace_s * 1000)


async def take(ctx: EdgeContext, claims: SessionClaims, turn: str, tokens: int) -> Held:
    """Take ``tokens`` from the tenant's per-minute bucket and one concurrent-turn slot.

    Raises:
        Problem: 429 ``tokens-per-minute-exceeded`` or ``too-many-concurrent-turns``
            with ``Retry-After`` (nothing is held then).
    """
    held = Held(claims.tenant, turn)
    tpm = claims.tokens_per_min
    if tpm is not None:
        if tpm < 1 or tokens > tpm:
            raise throttled("tokens-per-minute-exceeded",
                            f"tenant {claims.tenant} may use {tpm} tokens per minute; this turn "
                            f"reserves {tokens}, more than a whole minute's allowance", 60)
        decision = await ctx.tenant_tokens.take(claims.tenant, tokens, tpm)
        if not decision.allowed:
            raise throttled("tokens-per-minute-exceeded",
                            f"tenant {claims.tenant} used its {tpm} tokens per minute "
                            f"({decision.remaining} left, this turn reserves {tokens})",
                            decision.retry_after_s)
        held = Held(claims.tenant, turn, tokens, tpm)
    limit = claims.concurrent_turns
    if limit is not None:
        try:
            slot = await ctx.concurrency.acquire(claims.tenant, turn, limit, _lifetime_ms(ctx))
        except BaseException:
            await give_back(ctx, held)
            raise
        if not slot.allowed:
            await give_back(ctx, held)
            raise throttled("too-many-concurrent-turns",
                            f"tenant {claims.tenant} has {limit} turns running, its plan's limit",
                            slot.retry_after_s)
        held = Held(claims.tenant, turn, held.tokens, held.tokens_per_min, True)
    return held


async def give_back(ctx: EdgeContext, held: Held | None) -> None:
    """Return what ``held`` took (the turn was not appended). Best effort: a slot that
    cannot be freed lapses by itself; tokens that cannot be returned refill in time."""
    if held is None:
        return
    try:
        if held.tokens:
            await ctx.tenant_tokens.give_back(held.tenant, held.tokens, held.tokens_per_min)
        if held.slot:
            await ctx.concurrency.release(held.tenant, held.turn)
    except GuardUnavailable as exc:
        log.warning("could not give back what turn %s held: %s", held.turn, exc)


async def _release(ctx: EdgeContext, tenant: str, turn: str) -> None:
    try:
        await ctx.concurrency.release(tenant, turn)
    except GuardUnavailable as exc:
        log.warning("turn %s's concurrency slot lapses by itself: %s", turn, exc)


def release_on_completion(ctx: EdgeContext, tenant: str, turn: str) -> None:
    """Free the turn's concurrent-turn slot after its ``TurnCompleted`` (in the background)."""
    ctx.background(_release(ctx, tenant, turn), f"release slot of turn {turn}")
