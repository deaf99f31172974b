"""Deterministic ids: pinned namespace, spelling-insensitive, distinct, helper shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from somagent.contract import ids

TURN = uuid.UUID("6f1d6a51-1a5c-4b1f-9a3e-0d8b3c2f4e11")


def test_namespace_is_pinned() -> None:
    # Changing the namespace would change every id ever emitted; pin it.
    assert uuid.uuid5(uuid.NAMESPACE_URL, "urn:somagent:events") == ids.NAMESPACE
    assert uuid.UUID(ids.event_id(TURN, "ToolCallDelta", 3)).version == 5


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


@given(st.text(max_size=40), st.text(max_size=12), st.integers(0, 10_000))
def test_ids_are_deterministic_and_distinct(turn: str, step: str, index: int) -> None:
    assert ids.event_id(turn, step, index) == ids.event_id(turn, step, index)
    assert ids.event_id(turn, step, index) != ids.event_id(turn, step, index + 1)
    assert ids.idem_key(turn, step, index) != ids.idem_key(turn, step, index + 1)


def test_idem_key_shape() -> None:
    assert ids.idem_key("t1", "tools", 2) == ids.tool_call_id("t1", 2)
    assert ids.idem_key("t1", "tools", 2) != ids.idem_key("t1", "remember", 2)
    assert ids.redis_idem_key("calc", "k") == "idem:calc:k"
    with pytest.raises(ValueError, match="t1"):
        ids.idem_key("t1", "tools", -1)


@given(st.uuids(), st.sampled_from(["TurnPlanned", "ToolCallDelta"]), st.integers(0, 99))
def test_ids_do_not_depend_on_how_a_uuid_is_spelled(
    turn: uuid.UUID, step: str, index: int
) -> None:
    """The engine passes turn ids as strings, the edge as UUIDs: both give one id."""
    assert ids.event_id(str(turn), step, index) == ids.event_id(turn, step, index)
    assert ids.tool_call_id(str(turn).upper(), index) == ids.tool_call_id(turn, index)
    assert ids.redis_idem_key("calc", ids.idem_key(str(turn), "tools", index)) == (
        ids.tool_idempotency_key("calc", turn, index)
    )
    source = ids.event_id(str(turn), step, index)
    assert ids.usage_id(source, "planner") == ids.usage_id(uuid.UUID(source), "planner")
