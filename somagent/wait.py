"""Waiting on a condition with a deadline, never a bare sleep.

A probe is called until it returns something truthy; exceptions count as "not
yet", except :class:`~somagent.exceptions.StopWaiting` (a verdict such as "the
server died", and a nested wait's own timeout), which ends the wait at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from somagent.exceptions import DeadlineExceeded, StopWaiting

T = TypeVar("T")


def until(
    probe: Callable[[], T | None],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
    max_interval_s: float = 0.5,
) -> T:
    """Call ``probe`` until it returns something truthy; return that value.

    Exceptions from ``probe`` count as "not yet" and the last one is reported.
    The poll interval grows geometrically up to ``max_interval_s``.

    Raises:
        DeadlineExceeded: ``what`` did not become true within ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    last_error: BaseException | None = None
    delay = interval_s
    while True:
        try:
            result = probe()
            if result:
                return result
        except StopWaiting:
            raise  # a deliberate verdict (e.g. the server died): waiting longer cannot help
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise DeadlineExceeded(f"timed out after {timeout_s:.1f}s waiting for {what}{detail}")
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, max_interval_s)


async def until_async(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
    max_interval_s: float = 0.5,
) -> T:
    """Async twin of :func:`until` for probes that are coroutines."""
    deadline = time.monotonic() + timeout_s
    last_error: BaseException | None = None
    delay = interval_s
    while True:
        try:
            result = await probe()
            if result:
                return result
        except StopWaiting:
            raise
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise DeadlineExceeded(f"timed out after {timeout_s:.1f}s waiting for {what}{detail}")
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, max_interval_s)
