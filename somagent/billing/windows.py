"""Tumbling one-minute windows in event time (pure arithmetic, epoch microseconds).

A window ``[start, start + 60 s)`` is *due* once the watermark reaches its end:
``watermark_us >= start + MINUTE_US``. The watermark is the largest event time
seen minus the grace period, so usage up to ``grace`` late still lands in the
window's first close; later usage becomes a correction.
"""

from __future__ import annotations

MINUTE_US = 60_000_000
SECOND_US = 1_000_000


def window_start(ts_us: int) -> int:
    """Start of the minute holding ``ts_us`` (floor, also for times before 1970)."""
    return ts_us - ts_us % MINUTE_US


def window_end(start_us: int) -> int:
    """Exclusive end of the window starting at ``start_us``."""
    return start_us + MINUTE_US


def is_due(start_us: int, watermark_us: int) -> bool:
    """True once no on-time usage can still arrive for the window at ``start_us``."""
    return watermark_us >= start_us + MINUTE_US


def watermark(max_event_us: int, grace_us: int) -> int:
    """Event-time watermark: the latest event time seen minus the grace period."""
    return max_event_us - grace_us
