"""Circuit breakers and the retry/backoff schedule (pure; time is passed in).

The broker keeps one breaker per (tenant, tool instance), so one tenant's failures
never refuse another tenant's calls, and one broken instance never refuses calls
the other instances can take. Only infrastructure failures count (see
``ToolExecutionError.infrastructure``): a caller's program that exits non-zero or
its SQL that the engine refuses is not the tool failing.

Breaker states:

* ``closed`` – calls flow; ``failure_threshold`` consecutive failures open it.
* ``open`` – calls are refused (``circuit-open``) until ``reset_timeout_ms``
  after it opened, then it becomes half-open.
* ``half_open`` – up to ``half_open_max_calls`` trial calls; a success closes
  the breaker, a failure re-opens it for another ``reset_timeout_ms``.

Retries apply only to tools whose spec says ``idempotent``, only for
transient reason codes (:data:`RETRYABLE_CODES`), with exponential backoff
``base_ms · factor^attempt`` capped at ``max_ms`` (optionally with
deterministic "full jitter" from a seed).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, replace
from typing import Final

RETRYABLE_CODES: Final = frozenset({"timeout", "unavailable", "crashed", "query-failed"})


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5
    reset_timeout_ms: int = 30_000
    half_open_max_calls: int = 1


@dataclass(frozen=True)
class Breaker:
    """One tool's breaker; every operation returns a new value."""

    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at_ms: int = 0
    trials: int = 0


def _effective(b: Breaker, cfg: BreakerConfig, now_ms: int) -> Breaker:
    if b.state is BreakerState.OPEN and now_ms - b.opened_at_ms >= cfg.reset_timeout_ms:
        return replace(b, state=BreakerState.HALF_OPEN, trials=0)
    return b


def allow(b: Breaker, cfg: BreakerConfig, now_ms: int) -> tuple[bool, Breaker]:
    """Whether a call may start now, and the breaker after admitting it."""
    b = _effective(b, cfg, now_ms)
    if b.state is BreakerState.CLOSED:
        return True, b
    if b.state is BreakerState.HALF_OPEN and b.trials < cfg.half_open_max_calls:
        return True, replace(b, trials=b.trials + 1)
    return False, b


def admits(b: Breaker, cfg: BreakerConfig, now_ms: int) -> bool:
    """Whether :func:`allow` would admit a call now (nothing is recorded)."""
    return allow(b, cfg, now_ms)[0]


def record_success(b: Breaker, cfg: BreakerConfig, now_ms: int) -> Breaker:
    """A call succeeded: close the breaker and forget failures."""
    return Breaker()


def record_failure(b: Breaker, cfg: BreakerConfig, now_ms: int) -> Breaker:
    """A call failed: count it; open at the threshold, re-open from half-open."""
    b = _effective(b, cfg, now_ms)
    if b.state is BreakerState.HALF_OPEN:
        return Breaker(BreakerState.OPEN, b.failures + 1, now_ms, 0)
    failures = b.failures + 1
    if failures >= cfg.failure_threshold:
        return Breaker(BreakerState.OPEN, failures, now_ms, 0)
    return replace(b, failures=failures)


def state_at(b: Breaker, cfg: BreakerConfig, now_ms: int) -> BreakerState:
    return _effective(b, cfg, now_ms).state


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; delays in ms."""

    max_attempts: int = 3
    base_ms: int = 100
    factor: float = 2.0
    max_ms: int = 5_000
    jitter_seed: int | None = None


def backoff_schedule(policy: RetryPolicy) -> list[int]:
    """Delays before attempts 2..max_attempts, in ms (deterministic for a seed)."""
    rng = random.Random(policy.jitter_seed) if policy.jitter_seed is not None else None
    delays = []
    for attempt in range(max(0, policy.max_attempts - 1)):
        cap = min(policy.max_ms, int(policy.base_ms * policy.factor**attempt))
        delays.append(rng.randint(0, cap) if rng is not None else cap)
    return delays


def should_retry(
    idempotent: bool,
    reason_code: str,
    attempt: int,
    policy: RetryPolicy,
    infrastructure: bool = True,
) -> bool:
    """Whether failed attempt number ``attempt`` (from 1) may be followed by another:
    only an infrastructure failure with a transient code of an idempotent tool (the
    caller's own failure would fail the same way again)."""
    return (
        idempotent
        and infrastructure
        and reason_code in RETRYABLE_CODES
        and attempt < policy.max_attempts
    )
