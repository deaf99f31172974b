"""What callers of the guards depend on: results and Protocols (no I/O here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Outcome of one sliding-window acquire.

    ``allowed``: the slot(s) were taken in every window. ``retry_after_ms``: when
    denied, milliseconds until the fullest window has room again (>= 1); 0 when
    allowed. ``remaining``: slots left in the tightest window after this call.
    ``key``: the window that denied (None when allowed).
    """

    allowed: bool
    retry_after_ms: int
    remaining: int
    key: str | None = None

    @property
    def retry_after_s(self) -> int:
        """Whole seconds for a ``Retry-After`` header (rounded up, >= 1 when denied)."""
        return 0 if self.allowed else max(1, -(-self.retry_after_ms // 1000))


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    """Outcome of one token pre-authorisation against ``sess:{session}``.

    ``status`` is ``"reserved"``, ``"exhausted"`` (nothing was reserved) or
    ``"missing"`` (no such session snapshot: unknown or expired). ``remaining``
    is the budget left after the call (before it, when exhausted).
    """

    status: str
    remaining: int
    reserved: int = 0

    @property
    def reserved_ok(self) -> bool:
        return self.status == "reserved"


class RateLimiter(Protocol):
    """Sliding-window limiter; all-or-nothing across ``keys``."""

    async def acquire(
        self, keys: Sequence[str], limit: int, window_ms: int, cost: int = 1
    ) -> RateDecision: ...

    async def peek(
        self, keys: Sequence[str], limit: int, window_ms: int, cost: int = 1
    ) -> RateDecision: ...


class TokenBudget(Protocol):
    """Atomic pre-authorisation and settlement of a session's token budget."""

    async def reserve(self, session: str, tokens: int) -> BudgetDecision: ...

    async def settle(self, session: str, reserved: int, actual: int) -> int: ...


class IdempotencyStore(Protocol):
    """First-writer-wins claims with a time to live."""

    async def claim(self, key: str, value: str, ttl_s: int) -> str | None: ...

    async def extend(self, key: str, value: str, ttl_s: int) -> bool: ...

    async def release(self, key: str, value: str) -> bool: ...
