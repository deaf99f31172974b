"""The pure turn state machine: order, seq, ids, resume, failures."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.contract import names
from somagent.contract.envelope import Envelope
from somagent.contract.ids import idem_key, tool_call_id
from somagent.turns import events as ev
from somagent.turns import machine as m
from somagent.turns.exceptions import InvalidTransition
from somagent.turns.state import (
    Answer,
    Evidence,
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

T0 = 1_700_000_000_000
TURN = "0b7f2a4e-9a57-4f34-8a0e-3a1f0d6c2b11"


def request(**kw: object) -> m.TurnRequest:
    base: dict[str, object] = {
        "turn_id": TURN,
        "session_id": "sess-1",
        "tenant": "tenant-a",
        "text": "what is 1/3 + 1/6",
        "deadline_at_ms": T0 + 60_000,
        "allow_tools": ("calc", "python"),
        "allow_memory_write": True,
        "trace_id": "ab" * 16,
        "seq": 0,
    }
    base.update(kw)
    return m.TurnRequest(**base)  # type: ignore[arg-type]


PLAN = Plan(
    (ToolCall(0, "calc", {"expression": "1/3+1/6"}), ToolCall(1, "python", {"code": "print(1)"})),
    "test",
    "deterministic",
    TokenUsage(5, 0, "tokenizer:cl100k_base"),
)
EVIDENCE = (Evidence("m1", "one third", 0.9),)
CALL0 = tool_call_id(TURN, 0)
ANSWER = Answer(f"1/2 [tool:{CALL0}] [mem:m1]", (f"tool:{CALL0}", "mem:m1"))
PRICES = ev.UsagePrices(1, 2, 3, 4)


def ok(index: int, tool: str) -> ToolResult:
    return ToolResult(index, tool, True, {"value": "x"}, duration_ms=3)


def run_full(req: m.TurnRequest) -> list[m.Transition]:
    """Drive a whole turn, returning every transition."""
    out = [m.start(req, T0)]
    out.append(m.on_recalled(out[-1].state, EVIDENCE, T0 + 1))
    out.append(m.on_planned(out[-1].state, PLAN, T0 + 2))
    out.append(m.on_tool_delta(out[-1].state, 0, 0, "partial", T0 + 3))
    out.append(m.on_tool_result(out[-1].state, ok(0, "calc"), T0 + 4))
    out.append(m.on_tool_result(out[-1].state, ok(1, "python"), T0 + 5))
    out.append(m.on_verified(out[-1].state, ANSWER, [], T0 + 6))
    out.append(m.on_answered(out[-1].state, T0 + 7))
    if req.allow_memory_write:
        out.append(m.on_remembered(out[-1].state, ["mem-9"], 120, T0 + 8))
    return out


def all_events(ts: list[m.Transition]) -> list[Envelope]:
    return [e for t in ts for e in t.events]


def test_happy_path_order_actions_and_seq() -> None:
    ts = run_full(request())
    types = [e.type for e in all_events(ts)]
    assert types == [
        names.TURN_RECALLED,
        names.TURN_PLANNED,
        names.TOOL_CALL_REQUESTED,
        names.TOOL_CALL_REQUESTED,
        names.TOOL_CALL_DELTA,
        names.TOOL_CALL_COMPLETED,
        names.TOOL_CALL_COMPLETED,
        names.TURN_VERIFIED,
        names.TURN_ANSWERED,
        names.TURN_COMPLETED,
    ]
    assert [e.seq for e in all_events(ts)] == list(range(1, 11))
    assert ts[-1].state.seq == 10
    assert all(
        e.to_dict()["producer"] == "turns" and e.trace_id == "ab" * 16 for e in all_events(ts)
    )
    assert all_events(ts)[-1].payload["steps"] == 7
    actions = [type(t.action) for t in ts]
    assert actions == [
        m.RunRecall,
        m.RunPlan,
        m.RunToolCall,
        m.RunToolCall,
        m.RunToolCall,
        m.RunVerify,
        m.RunAnswer,
        m.RunRemember,
        m.Finish,
    ]
    assert ts[-1].state.step is Step.COMPLETED
    ids = [e.event_id for e in all_events(ts)]
    assert len(set(ids)) == len(ids)


def test_usage_records_tokens_tool_calls_egress_storage() -> None:
    usage = [u for t in run_full(request()) for u in t.usage]
    answer_bytes = len(ANSWER.text.encode())
    rows = [(u.agent, u.tokens, u.tool_calls, u.storage_bytes, u.egress_bytes) for u in usage]
    assert rows == [
        ("planner", 5, 0, 0, 0),
        ("tool:calc", 0, 1, 0, 0),
        ("tool:python", 0, 1, 0, 0),
        ("edge", 0, 0, 0, answer_bytes),
        ("memory", 0, 0, 120, 0),
    ]
    assert all(u.tenant == "tenant-a" and u.turn == TURN for u in usage)
    assert len({u.usage_id for u in usage}) == len(usage)
    assert usage[0].detail["source"] == "tokenizer:cl100k_base"
    env = usage[0].to_dict(PRICES)
    assert env["type"] == "UsageRecorded" and env["event_id"] == usage[0].usage_id
    assert env["payload"]["token_price_picocents"] == 1
    assert env["payload"]["occurred_at"] == env["ts"] == usage[0].ts


def test_no_remember_when_memory_writes_not_allowed() -> None:
    ts = run_full(request(allow_memory_write=False))
    assert isinstance(ts[-1].action, m.Finish)
    assert ts[-1].state.step is Step.COMPLETED
    assert [u.agent for t in ts for u in t.usage][-1] == "edge"


def test_starting_seq_continues_from_turn_requested() -> None:
    t = m.start(request(seq=41), T0)
    assert t.events == () and t.state.seq == 41
    t2 = m.on_recalled(t.state, (), T0 + 1)
    assert t2.events[0].seq == 42 and t2.state.seq == 42


def test_memory_mode_none_passes_recall_without_evidence() -> None:
    t = m.start(request(allow_memory_read=False, allow_memory_write=False), T0)
    assert [e.type for e in t.events] == [names.TURN_RECALLED]
    assert t.events[0].payload == {"evidence": []}
    assert isinstance(t.action, m.RunPlan) and t.state.step is Step.PLAN


def test_replay_gives_identical_event_ids() -> None:
    a = [e.to_dict() for e in all_events(run_full(request()))]
    b = [e.to_dict() for e in all_events(run_full(request()))]
    assert a == b


def test_tool_call_actions_carry_idempotency_keys() -> None:
    t = m.on_planned(m.on_recalled(m.start(request(), T0).state, (), T0).state, PLAN, T0)
    assert isinstance(t.action, m.RunToolCall)
    assert t.action.idem_key == idem_key(TURN, "tools", 0) == CALL0
    assert t.action.call.call_id == CALL0
    requested = [e for e in t.events if e.type == names.TOOL_CALL_REQUESTED]
    assert [e.payload["idempotency_key"] for e in requested] == [
        f"idem:calc:{CALL0}",
        f"idem:python:{tool_call_id(TURN, 1)}",
    ]
    assert requested[0].payload == {
        "call_id": CALL0,
        "tool": "calc",
        "arguments_json": '{"expression":"1/3+1/6"}',
        "idempotency_key": f"idem:calc:{CALL0}",
        "index": 0,
    }
    planned = t.events[0].payload
    assert planned["planner"] == "deterministic"
    assert [s["call_id"] for s in planned["steps"]] == [CALL0, tool_call_id(TURN, 1)]


def test_duplicate_tool_result_is_ignored() -> None:
    t = m.on_planned(m.on_recalled(m.start(request(), T0).state, (), T0).state, PLAN, T0)
    first = m.on_tool_result(t.state, ok(0, "calc"), T0 + 1)
    again = m.on_tool_result(first.state, ok(0, "calc"), T0 + 2)
    assert again.events == () and again.state == first.state
    assert isinstance(again.action, m.RunToolCall) and again.action.index == 1


def test_failed_tool_call_does_not_fail_turn_and_is_billed() -> None:
    t = m.on_planned(m.on_recalled(m.start(request(), T0).state, (), T0).state, PLAN, T0)
    bad = ToolResult(0, "calc", False, None, "crashed", "exit 1", exit_code=1)
    t2 = m.on_tool_result(t.state, bad, T0 + 1)
    assert t2.events[0].type == names.TOOL_CALL_FAILED
    assert t2.events[0].payload == {
        "call_id": CALL0,
        "tool": "calc",
        "reason_code": "crashed",
        "message": "exit 1",
    }
    assert t2.state.step is Step.TOOLS
    assert [u.tool_calls for u in t2.usage] == [1]
    invalid = ToolResult(1, "python", False, None, "invalid-arguments", "code: required")
    t3 = m.on_tool_result(t2.state, invalid, T0 + 2)
    assert t3.usage == ()
    assert isinstance(t3.action, m.RunVerify)


def test_denied_calls_are_audited_and_skipped() -> None:
    state = m.on_recalled(m.start(request(), T0).state, (), T0).state
    t = m.on_planned(state, PLAN, T0 + 1, allowed_tools={"calc"})
    types = [e.type for e in t.events]
    assert types == [names.TURN_PLANNED, names.POLICY_DENIED, names.TOOL_CALL_REQUESTED]
    assert t.events[1].payload == {
        "reason_code": "tool-not-allowed",
        "detail": "tool 'python' is not in the allowed set ['calc']",
        "path": "tool:python",
        "policy_hash": None,
        "rule": "tool-not-allowed",
    }
    assert t.state.completed_calls == frozenset({1})
    assert t.state.tool_results[0].error_code == "tool-not-allowed"
    t2 = m.on_tool_result(t.state, ok(0, "calc"), T0 + 2)
    assert isinstance(t2.action, m.RunVerify)


def test_all_calls_denied_fails_with_tool_denied() -> None:
    state = m.on_recalled(m.start(request(allow_tools=()), T0).state, (), T0).state
    t = m.on_planned(state, PLAN, T0 + 1)
    assert [e.type for e in t.events[-2:]] == [names.TURN_FAILED, names.TURN_COMPLETED]
    assert t.events[-2].payload["reason_code"] == "tool_denied"
    assert isinstance(t.action, m.Finish) and t.state.step is Step.FAILED


def test_empty_plan_goes_straight_to_verify() -> None:
    state = m.on_recalled(m.start(request(), T0).state, (), T0).state
    t = m.on_planned(state, Plan(), T0 + 1)
    assert isinstance(t.action, m.RunVerify) and t.state.step is Step.VERIFY


@pytest.mark.parametrize(
    ("text", "deadline", "reason"),
    [("   ", T0 + 1000, "invalid_request"), ("hi", T0, "deadline_exceeded")],
)
def test_start_rejects_bad_requests(text: str, deadline: int, reason: str) -> None:
    t = m.start(request(text=text, deadline_at_ms=deadline), T0)
    assert [e.type for e in t.events] == [names.TURN_FAILED, names.TURN_COMPLETED]
    assert t.events[0].payload["reason_code"] == reason
    assert isinstance(t.action, m.Finish)


def test_deadline_exceeded_discards_late_outcome() -> None:
    s = m.start(request(), T0).state
    t = m.on_recalled(s, EVIDENCE, T0 + 60_000)
    assert t.state.step is Step.FAILED
    assert t.state.failure is not None
    assert t.state.failure.reason is FailureReason.DEADLINE_EXCEEDED
    assert t.state.failure.step is Step.RECALL
    assert t.state.evidence == ()


def test_cancel_then_late_outcome_is_noop() -> None:
    s = m.start(request(), T0).state
    c = m.cancel(s, T0 + 5)
    assert c.state.cancelled and c.events[0].payload["reason_code"] == "cancelled"
    late = m.on_recalled(c.state, EVIDENCE, T0 + 6)
    assert late.events == () and isinstance(late.action, m.Finish)
    assert m.cancel(c.state, T0 + 7).events == ()


def test_tick_detects_step_timeout_and_deadline() -> None:
    timeouts = m.StepTimeouts(recall_ms=100)
    s = m.start(request(), T0, timeouts).state
    assert m.tick(s, T0 + 100, timeouts) is None
    t = m.tick(s, T0 + 101, timeouts)
    assert t is not None and t.events[0].payload["reason_code"] == "step_timeout"
    d = m.tick(s, T0 + 60_000, timeouts)
    assert d is not None and d.events[0].payload["reason_code"] == "deadline_exceeded"
    assert m.tick(t.state, T0 + 200, timeouts) is None


def test_action_timeout_is_bounded_by_deadline() -> None:
    t = m.start(request(deadline_at_ms=T0 + 2_000), T0)
    assert isinstance(t.action, m.RunRecall) and t.action.timeout_ms == 2_000
    t2 = m.start(request(), T0, m.StepTimeouts(recall_ms=700))
    assert isinstance(t2.action, m.RunRecall) and t2.action.timeout_ms == 700


def test_step_errors_map_to_reason_codes() -> None:
    s = m.start(request(), T0).state
    assert m.on_step_error(s, "qdrant down", T0).events[0].payload == {
        "reason_code": "recall_failed",
        "message": "qdrant down",
        "step": "recall",
    }


def test_verify_failure_fails_turn() -> None:
    ts = run_full(request())
    verify_state = ts[5].state
    assert verify_state.step is Step.VERIFY
    t = m.on_verified(verify_state, ANSWER, ["pii_revealed: email"], T0 + 9)
    types = [e.type for e in t.events]
    assert types == [names.TURN_VERIFIED, names.TURN_FAILED, names.TURN_COMPLETED]
    assert t.events[0].payload["ok"] is False
    assert t.events[0].payload["problems"] == ["pii_revealed: email"]
    assert t.events[1].payload["reason_code"] == "verify_failed"
    assert "pii_revealed" in t.events[1].payload["message"]


def test_outcome_for_wrong_step_raises() -> None:
    s = m.start(request(), T0).state
    with pytest.raises(InvalidTransition, match=r"turn .* is at step recall"):
        m.on_planned(s, PLAN, T0 + 1)
    bad = Plan((ToolCall(1, "calc", {}),))
    with pytest.raises(InvalidTransition, match=r"0\.\.n-1"):
        m.on_planned(m.on_recalled(s, (), T0).state, bad, T0)


def crash_points() -> list[int]:
    return list(range(len(run_full(request()))))


@pytest.mark.parametrize("crash_after", crash_points())
def test_resume_after_crash_continues_at_next_step(crash_after: int) -> None:
    """Restore the state stored after transition k; the resumed action equals the
    action that transition asked for, and no completed tool call runs again."""
    ts = run_full(request())
    stored = json.loads(json.dumps(state_to_dict(ts[crash_after].state)))
    restored = state_from_dict(stored)
    assert restored == ts[crash_after].state
    r = m.resume(restored, T0 + 10)
    assert r.events == ()
    assert type(r.action) is type(ts[crash_after].action)
    if isinstance(r.action, m.RunToolCall):
        assert r.action.index not in restored.completed_calls
        assert r.action == ts[crash_after].action or r.action.call == ts[crash_after].action.call  # type: ignore[union-attr]


def test_resume_mid_tools_skips_completed_calls() -> None:
    t = m.on_planned(m.on_recalled(m.start(request(), T0).state, (), T0).state, PLAN, T0)
    after_first = m.on_tool_result(t.state, ok(0, "calc"), T0 + 1).state
    r = m.resume(state_from_dict(state_to_dict(after_first)), T0 + 2)
    assert isinstance(r.action, m.RunToolCall)
    assert r.action.index == 1 and r.action.call.tool == "python"


def test_resume_past_deadline_fails() -> None:
    s = m.start(request(), T0).state
    r = m.resume(s, T0 + 61_000)
    assert r.events[0].type == names.TURN_FAILED
    assert r.events[0].payload["reason_code"] == "deadline_exceeded"


@settings(max_examples=60, deadline=None)
@given(
    outcomes=st.lists(
        st.sampled_from(["ok", "fail", "delta", "dup", "cancel", "late"]), max_size=12
    )
)
def test_seq_is_contiguous_under_any_outcome_order(outcomes: list[str]) -> None:
    t0 = m.start(request(), T0)
    t1 = m.on_recalled(t0.state, EVIDENCE, T0 + 1)
    t = m.on_planned(t1.state, PLAN, T0 + 2)
    now = T0 + 3
    state: TurnState = t.state
    seen = [*t0.events, *t1.events, *t.events]
    for i, kind in enumerate(outcomes):
        now += 1
        action = m.next_action(state, now)
        if isinstance(action, m.Finish):
            break
        if not isinstance(action, m.RunToolCall):
            break
        idx = action.index
        if kind == "ok":
            t = m.on_tool_result(state, ok(idx, action.call.tool), now)
        elif kind == "fail":
            t = m.on_tool_result(
                state, ToolResult(idx, action.call.tool, False, None, "timeout", "x"), now
            )
        elif kind == "delta":
            t = m.on_tool_delta(state, idx, i, "chunk", now)
        elif kind == "dup" and state.completed_calls:
            done = min(state.completed_calls)
            t = m.on_tool_result(state, ok(done, PLAN.calls[done].tool), now)
        elif kind == "cancel":
            t = m.cancel(state, now)
        else:
            t = m.on_tool_result(state, ok(idx, action.call.tool), T0 + 60_000)
        state = t.state
        seen.extend(t.events)
    events = seen
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert state.seq == len(events)
    assert len({e.event_id for e in events}) == len(events)
    assert sum(e.type == names.TURN_FAILED for e in events) <= 1


def test_request_level_denials_are_audited_before_the_plan() -> None:
    from somagent.tools.policy import SessionPolicy, decide

    decision = decide(
        ["calc", "python", "weather"], SessionPolicy(frozenset({"calc"})), {"calc", "python"}
    )
    state = m.on_recalled(m.start(request(), T0).state, (), T0).state
    plan = Plan((ToolCall(0, "calc", {"expression": "1"}),))
    t = m.on_planned(state, plan, T0 + 1, allowed_tools=decision.allowed, denials=decision.denied)
    types = [e.type for e in t.events]
    assert types == [
        names.POLICY_DENIED, names.POLICY_DENIED, names.TURN_PLANNED, names.TOOL_CALL_REQUESTED
    ]
    assert [(e.payload["path"], e.payload["reason_code"]) for e in t.events[:2]] == [
        ("tool:python", "tool-not-in-session-policy"),
        ("tool:weather", "tool-not-registered"),
    ]
    assert len({e.event_id for e in t.events}) == 4


def test_a_duplicate_idempotency_key_fails_the_turn_and_runs_nothing() -> None:
    t = m.start(request(idempotency_key="k-1"), T0, duplicate_of="first-turn")
    kinds = [e.type for e in t.events]
    assert kinds == [names.TURN_FAILED, names.TURN_COMPLETED]
    failure = t.events[0].payload
    assert failure["reason_code"] == "duplicate_request" and "first-turn" in failure["message"]
    assert isinstance(t.action, m.Finish) and not t.usage
