"""Deterministic ids and W3C traceparent helpers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from somagent.events import ids, tracing

TURN = uuid.UUID("6f1d6a51-1a5c-4b1f-9a3e-0d8b3c2f4e11")


def test_namespace_is_pinned() -> None:
    # Changing the namespace would change every id ever emitted; pin it.
    assert uuid.uuid5(uuid.NAMESPACE_URL, "urn:somagent:events") == ids.NAMESPACE
    assert ids.event_id(TURN, "ToolCallDelta", 3).version == 5


def test_same_inputs_same_id_however_spelled() -> None:
    a = ids.event_id(TURN, "ToolCallDelta", 3)
    assert a == ids.event_id(str(TURN), "ToolCallDelta", 3)
    assert a == ids.event_id(str(TURN).upper(), "ToolCallDelta", 3)
    assert a == ids.event_id(TURN.hex, "ToolCallDelta", 3)


def test_different_inputs_differ() -> None:
    seen = {
        ids.event_id(TURN, step, index)
        for step in ("TurnPlanned", "ToolCallDelta", "ToolCallCompleted")
        for index in range(50)
    }
    assert len(seen) == 150
    # Parts cannot run together: ("ab", "c") is not ("a", "bc").
    assert ids.stable_id("k", "ab", "c") != ids.stable_id("k", "a", "bc")
    assert ids.stable_id("k", None) != ids.stable_id("k", "")


def test_helpers() -> None:
    call = ids.tool_call_id(TURN, 0)
    assert uuid.UUID(call).version == 5
    assert ids.tool_idempotency_key("search", TURN, 0) == f"idem:search:{call}"
    start = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    us = ids.window_start_us(start)
    assert us == 1795492800000000
    assert ids.ledger_event_id(TURN, "planner", None, start, 0) == ids.ledger_event_id(
        TURN, "planner", None, us, 0
    )
    assert ids.ledger_event_id(TURN, "planner", None, us, 0) != ids.ledger_event_id(
        TURN, "planner", None, us, 1
    )
    assert ids.random_event_id() != ids.random_event_id()


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
