"""Repeated log records are rate-limited per kind; different errors still get through."""

from __future__ import annotations

import logging

from somagent.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("librdkafka", level, __file__, 1, msg, args, None)


def test_a_burst_per_window_then_a_count_of_what_was_suppressed() -> None:
    clock = Clock()
    f = RepeatFilter(burst=3, window_s=10.0, clock=clock)
    passed = [f.filter(_record("%s failed (after %dms)", "connect", i)) for i in range(100)]
    assert sum(passed) == 3  # digits masked: one kind
    clock.now += 10.0
    summary = _record("%s failed (after %dms)", "connect", 7)
    assert f.filter(summary)
    assert "97 similar messages suppressed" in summary.getMessage()


def test_other_kinds_and_info_records_are_not_held_back() -> None:
    f = RepeatFilter(burst=1, window_s=10.0, clock=Clock())
    assert f.filter(_record("connect failed"))
    assert not f.filter(_record("connect failed"))
    assert f.filter(_record("disk full"))  # another kind
    assert all(f.filter(_record("progress", level=logging.INFO)) for _ in range(50))
