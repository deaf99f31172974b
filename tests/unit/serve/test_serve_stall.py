"""The stall check: unhealthy only when records wait and nothing is read for long enough."""

from __future__ import annotations

from somagent.serve.health import StallCheck


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_waiting_records_nobody_reads_make_it_unhealthy_after_the_stall_time() -> None:
    clock, waiting, read = Clock(), [0], [0]
    check = StallCheck(lambda: waiting[0], lambda: read[0], stall_s=20, every_s=0, clock=clock)
    assert check() == (True, "")
    waiting[0] = 5
    clock.now += 10
    assert check()[0]
    clock.now += 15  # 25 s with 5 records waiting and nothing read
    ok, detail = check()
    assert not ok and "5 records wait" in detail
    read[0] += 1  # reading again: healthy at once
    assert check() == (True, "")


def test_idle_or_reading_is_healthy_and_an_unknown_lag_is_never_stuck() -> None:
    clock, read = Clock(), [0]
    idle = StallCheck(lambda: 0, lambda: read[0], stall_s=1, every_s=0, clock=clock)
    clock.now += 100
    assert idle()[0]

    def broken() -> int:
        raise RuntimeError("broker down")

    unknown = StallCheck(broken, lambda: 0, stall_s=1, every_s=0, clock=clock)
    clock.now += 100
    assert unknown()[0]
