"""TurnState JSON round trip and reading TurnRequested envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from somagent.turns.exceptions import InvalidTurnState
from somagent.turns.machine import start
from somagent.turns.request import request_from_event
from somagent.turns.state import (
    Answer,
    Evidence,
    Failure,
    FailureReason,
    Plan,
    Step,
    TokenUsage,
    ToolCall,
    ToolResult,
    TurnState,
    state_from_dict,
    state_to_dict,
)

json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
usage = st.none() | st.builds(TokenUsage, st.integers(0, 10**6), st.integers(0, 10**6), st.text())
evidence = st.builds(
    Evidence, st.text(), st.text(), st.floats(-1, 1), st.text(), st.integers(0, 2**62), st.text()
)
calls = st.lists(st.dictionaries(st.text(max_size=5), json_value, max_size=3), max_size=3).map(
    lambda args: tuple(ToolCall(i, f"t{i}", a, f"id{i}") for i, a in enumerate(args))
)
results = st.lists(
    st.builds(
        ToolResult,
        st.integers(0, 5),
        st.text(max_size=5),
        st.booleans(),
        json_value,
        st.text(max_size=5),
        st.text(max_size=5),
        st.booleans(),
        st.integers(0, 10**6),
        st.none() | st.integers(-255, 255),
        st.text(max_size=5),
    ),
    max_size=3,
).map(tuple)


@given(
    step=st.sampled_from(list(Step)),
    ev=st.lists(evidence, max_size=3).map(tuple),
    plan_calls=st.none() | calls,
    plan_usage=usage,
    res=results,
    answer=st.none() | st.builds(Answer, st.text(), st.lists(st.text()).map(tuple), usage),
    failure=st.none()
    | st.builds(
        Failure, st.sampled_from(list(FailureReason)), st.text(), st.sampled_from(list(Step))
    ),
    capsules=st.none() | st.lists(st.text(max_size=4)).map(tuple),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_state_round_trips_through_json(
    step: Step,
    ev: tuple[Evidence, ...],
    plan_calls: tuple[ToolCall, ...] | None,
    plan_usage: TokenUsage | None,
    res: tuple[ToolResult, ...],
    answer: Answer | None,
    failure: Failure | None,
    capsules: tuple[str, ...] | None,
    flags: tuple[bool, bool, bool],
) -> None:
    state = TurnState(
        turn_id="t",
        session_id="s",
        tenant="x",
        text="hi",
        step=step,
        deadline_at_ms=10,
        started_at_ms=1,
        allow_tools=("calc",),
        allow_memory_read=flags[0],
        allow_memory_write=flags[1],
        capsule_ids=capsules,
        trace_id="0" * 32,
        seq=7,
        cancelled=flags[2],
        evidence=ev,
        plan=None if plan_calls is None else Plan(plan_calls, "r", "p", plan_usage),
        completed_calls=frozenset({0, 2}),
        tool_results=res,
        answer=answer,
        failure=failure,
        step_started_at_ms=3,
        steps_done=2,
    )
    assert state_from_dict(json.loads(json.dumps(state_to_dict(state)))) == state


def test_bad_stored_state_names_the_turn() -> None:
    data = state_to_dict(
        TurnState("turn-9", "s", "x", "hi", Step.PLAN, deadline_at_ms=5, started_at_ms=1)
    )
    del data["evidence"]
    with pytest.raises(InvalidTurnState, match="turn-9"):
        state_from_dict(data)


def envelope(**payload: object) -> dict[str, object]:
    body: dict[str, object] = {
        "turn_id": "0b7f2a4e-9a57-4f34-8a0e-3a1f0d6c2b11",
        "session_id": "5a0f7a6e-1c1b-4a55-9a57-0d2a9b0c1d22",
        "text": "what is 2+2",
        "allow_tools": ["calc"],
        "memory_mode": "readwrite",
        "idempotency_key": None,
        "deadline_ms": 30_000,
        "capsule_ids": [],
    }
    body.update(payload)
    return {
        "event_id": "e1",
        "type": "TurnRequested",
        "ts": datetime(2026, 11, 24, 4, 0, tzinfo=UTC),
        "tenant": "9f0b2d4c-3e1a-4b5c-8d6e-7f8091a2b3c4",
        "trace_id": "ab" * 16,
        "seq": 0,
        "payload": body,
    }


def test_request_from_event_maps_the_contract() -> None:
    req = request_from_event(envelope())
    ts_ms = int(datetime(2026, 11, 24, 4, 0, tzinfo=UTC).timestamp() * 1000)
    assert req.deadline_at_ms == ts_ms + 30_000 and req.requested_at_ms == ts_ms
    assert req.allow_tools == ("calc",)
    assert (req.allow_memory_read, req.allow_memory_write) == (True, True)
    assert req.capsule_ids is None and req.trace_id == "ab" * 16
    none = request_from_event(envelope(memory_mode="none", capsule_ids=["c1"]))
    assert (none.allow_memory_read, none.allow_memory_write) == (False, False)
    assert none.capsule_ids == ("c1",)
    assert request_from_event(envelope(memory_mode="bogus")).allow_memory_read is False


def test_request_from_event_rejects_missing_fields() -> None:
    env = envelope()
    del env["payload"]["text"]  # type: ignore[attr-defined]
    with pytest.raises(InvalidTurnState, match="e1"):
        request_from_event(env)


def test_the_sessions_tool_rate_travels_from_request_to_state() -> None:
    assert request_from_event(envelope()).tools_per_min is None  # events before the field
    req = request_from_event(envelope(tools_per_min=100_000))
    assert req.tools_per_min == 100_000
    state = start(req, req.requested_at_ms + 1).state
    assert state.tools_per_min == 100_000
    assert state_from_dict(state_to_dict(state)).tools_per_min == 100_000
    stored_before = {k: v for k, v in state_to_dict(state).items() if k != "tools_per_min"}
    assert state_from_dict(stored_before).tools_per_min is None
