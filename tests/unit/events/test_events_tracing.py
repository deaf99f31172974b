"""W3C traceparent helpers and random event ids."""

from __future__ import annotations

import pytest

from somagent.events import tracing
from somagent.events.envelope import random_event_id


def test_random_event_ids_differ() -> None:
    assert random_event_id() != random_event_id()


def test_traceparent_round_trip() -> None:
    trace = tracing.new_trace_id()
    value = tracing.format_traceparent(trace, "00f067aa0ba902b7")
    assert value == f"00-{trace}-00f067aa0ba902b7-01"
    assert tracing.parse_traceparent(value.encode()) == (trace, "00f067aa0ba902b7", True)
    assert tracing.parse_traceparent(tracing.format_traceparent(trace, sampled=False))[2] is False


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    ],
)
def test_bad_traceparent(bad: str) -> None:
    with pytest.raises(ValueError):
        tracing.parse_traceparent(bad)
