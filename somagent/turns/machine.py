"""Pure transition functions of the turn state machine.

Ingest → Recall → Plan → Tools → Verify → Answer → Remember (only when the
request allows memory writes) → Completed, or Failed with a
:class:`~somagent.turns.state.FailureReason` at any step. Ingest's event is the
edge's ``TurnRequested``; Recall is passed through with no evidence when the
request's memory mode forbids reads; every turn ends with ``TurnCompleted``
(after ``TurnFailed`` when it failed).

Every function takes the current :class:`TurnState`, the outcome of the step
that just ran and the current time (epoch ms), and returns a
:class:`Transition`: the new state, the events to append (each ``seq`` one more
than the last), usage records, and the next :class:`Action` to perform. Nothing
here does I/O or reads a clock.

Guarantees:

* On a terminal state every function is a no-op (no events, action
  :class:`Finish`), so a late or duplicated outcome cannot reopen a turn.
* A duplicated tool result (same index) is ignored.
* Before accepting any outcome the machine checks cancellation and the turn
  deadline; past the deadline the outcome is discarded and the turn fails with
  ``deadline_exceeded``.
* Event ids are deterministic (:func:`somagent.contract.ids.event_id`): re-running
  a step after a crash re-emits the same ids.

Driving loop (the Faust agent)::

    t = start(request_from_event(turn_requested), now_ms)   # new turn
    t = resume(state_from_dict(table[turn_id]), now_ms)       # or after a restart
    while True:
        publish(t.events); publish_usage(t.usage)   # same ids when re-run
        table[turn_id] = state_to_dict(t.state)     # then store progress
        if isinstance(t.action, Finish):
            break
        outcome = await perform(t.action)           # bounded by t.action.timeout_ms
        t = on_<step>(t.state, outcome, now_ms)      # the matching on_* function
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Protocol

from somagent.contract import names
from somagent.contract.ids import event_id, idem_key, redis_idem_key, tool_call_id
from somagent.turns import events as ev
from somagent.turns.actions import (
    DEFAULT_TIMEOUTS,
    Action,
    Finish,
    RunAnswer,
    RunPlan,
    RunRecall,
    RunRemember,
    RunToolCall,
    RunVerify,
    StepTimeouts,
    Transition,
)
from somagent.turns.emit import (
    Out,
    advance,
    completed_event,
    failed,
    guard,
    next_action,
    noop,
    to_json,
)
from somagent.turns.exceptions import InvalidTransition
from somagent.turns.request import TurnRequest
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
)
from somagent.turns.verify import CHECKS

__all__ = [
    "DEFAULT_TIMEOUTS",
    "NOT_EXECUTED_CODES",
    "Action",
    "Denial",
    "Finish",
    "RunAnswer",
    "RunPlan",
    "RunRecall",
    "RunRemember",
    "RunToolCall",
    "RunVerify",
    "StepTimeouts",
    "Transition",
    "TurnRequest",
    "cancel",
    "fail",
    "next_action",
    "on_answered",
    "on_planned",
    "on_recalled",
    "on_remembered",
    "on_step_error",
    "on_step_timeout",
    "on_tool_delta",
    "on_tool_result",
    "on_verified",
    "resume",
    "start",
    "tick",
]

#: Tool-result error codes for calls that never executed; they are not billed.
NOT_EXECUTED_CODES = frozenset(
    {"tool-not-allowed", "invalid-arguments", "rate-limit", "budget", "circuit-open"}
)

_STEP_ERROR_REASON = {
    Step.INGEST: FailureReason.INVALID_REQUEST,
    Step.RECALL: FailureReason.RECALL_FAILED,
    Step.PLAN: FailureReason.PLAN_FAILED,
    Step.TOOLS: FailureReason.INTERNAL_ERROR,
    Step.VERIFY: FailureReason.VERIFY_FAILED,
    Step.ANSWER: FailureReason.ANSWER_FAILED,
    Step.REMEMBER: FailureReason.REMEMBER_FAILED,
}


# -- lifecycle -------------------------------------------------------------------


def start(
    request: TurnRequest,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
    *,
    duplicate_of: str | None = None,
) -> Transition:
    """Ingest a request (its event is the edge's ``TurnRequested``) and ask for
    recall; when the request may not read memory, pass Recall with no evidence
    (``TurnRecalled`` with an empty list) and ask for a plan. Bad requests fail, and
    so does a request whose Idempotency-Key already started ``duplicate_of``."""
    state = TurnState(
        turn_id=request.turn_id,
        session_id=request.session_id,
        tenant=request.tenant,
        text=request.text,
        step=Step.INGEST,
        deadline_at_ms=request.deadline_at_ms,
        started_at_ms=request.requested_at_ms or now_ms,
        allow_tools=tuple(request.allow_tools),
        allow_memory_read=request.allow_memory_read,
        allow_memory_write=request.allow_memory_write,
        capsule_ids=request.capsule_ids,
        trace_id=request.trace_id,
        seq=request.seq,
        step_started_at_ms=now_ms,
        tools_per_min=request.tools_per_min,
    )
    out = Out(state, now_ms)
    if duplicate_of is not None:
        return failed(out, state, FailureReason.DUPLICATE_REQUEST,
                      f"its Idempotency-Key already started turn {duplicate_of}")
    if not request.text.strip():
        return failed(out, state, FailureReason.INVALID_REQUEST, "turn text is empty")
    if request.deadline_at_ms <= now_ms:
        return failed(
            out,
            state,
            FailureReason.DEADLINE_EXCEEDED,
            f"deadline {request.deadline_at_ms} ms is not after the start {now_ms} ms",
        )
    recall = advance(out, state, Step.RECALL, now_ms, timeouts)
    if request.allow_memory_read:
        return recall
    return on_recalled(recall.state, (), now_ms, timeouts)


def resume(state: TurnState, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS) -> Transition:
    """Continue a turn restored from the table after a restart.

    No events unless the turn must fail now (cancelled or past its deadline);
    the action is the step after the last completed one, and the step's
    timeout restarts at ``now_ms``.
    """
    guarded = guard(state, None, now_ms, timeouts)
    if guarded is not None:
        return guarded
    restarted = state.evolve(step_started_at_ms=now_ms)
    return Transition(restarted, (), next_action(restarted, now_ms, timeouts))


def on_recalled(
    state: TurnState,
    evidence: Sequence[Evidence],
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """Recall finished (best first): emit ``TurnRecalled`` and ask for a plan."""
    guarded = guard(state, Step.RECALL, now_ms, timeouts)
    if guarded is not None:
        return guarded
    out = Out(state, now_ms)
    out.event(names.TURN_RECALLED, {"evidence": [e.to_event_dict() for e in evidence]})
    return advance(out, state, Step.PLAN, now_ms, timeouts, evidence=tuple(evidence))


class Denial(Protocol):
    """A requested tool refused by policy (``somagent.tools.policy.Denial`` fits)."""

    @property
    def tool(self) -> str: ...

    @property
    def reason_code(self) -> str: ...

    @property
    def detail(self) -> str: ...


def _with_call_ids(state: TurnState, plan: Plan) -> Plan:
    indexes = [c.index for c in plan.calls]
    if indexes != list(range(len(plan.calls))):
        raise InvalidTransition(
            f"turn {state.turn_id}: plan call indexes must be 0..n-1 in order, got {indexes}"
        )
    calls = tuple(
        ToolCall(c.index, c.tool, c.arguments, tool_call_id(state.turn_id, c.index))
        for c in plan.calls
    )
    return Plan(calls, plan.rationale, plan.planner, plan.usage)


def on_planned(
    state: TurnState,
    plan: Plan,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
    allowed_tools: Collection[str] | None = None,
    denials: Sequence[Denial] = (),
) -> Transition:
    """A plan arrived: emit ``PolicyDenied`` per request-level ``denials`` (the
    requested tools the session policy refused, from ``somagent.tools.policy.decide``),
    ``TurnPlanned``, ``PolicyDenied`` per call outside
    ``allowed_tools`` (default: the request's ``allow_tools``; pass the
    request ∩ session policy) and ``ToolCallRequested`` per allowed call; then
    run the first call (or verify when there is none).

    Calls get their deterministic ``call_id``. Denied calls are recorded as
    failed results (``tool-not-allowed``) and never run; if every call of a
    non-empty plan is denied the turn fails with ``tool_denied``. Call indexes
    must be 0..n-1 in order. Planner tokens are metered (agent ``planner``).
    """
    guarded = guard(state, Step.PLAN, now_ms, timeouts)
    if guarded is not None:
        return guarded
    plan = _with_call_ids(state, plan)
    allowed = set(state.allow_tools if allowed_tools is None else allowed_tools)
    out = Out(state, now_ms)
    for d in denials:
        out.event(
            names.POLICY_DENIED,
            {"reason_code": d.reason_code, "detail": d.detail, "path": f"tool:{d.tool}",
             "policy_hash": None, "rule": d.reason_code},
            f"request:{d.tool}",
        )
    planned_id = out.event(
        names.TURN_PLANNED,
        {
            "planner": plan.planner,
            "steps": [
                {"call_id": c.call_id, "tool": c.tool, "arguments_json": to_json(c.arguments)}
                for c in plan.calls
            ],
            "rationale": plan.rationale,
        },
    )
    out.tokens(planned_id, plan.usage)
    denied, results = _deny_calls(out, plan, allowed)
    planned = state.evolve(
        plan=plan,
        tool_results=tuple(results),
        completed_calls=frozenset(c.index for c in denied),
    )
    if denied and len(denied) == len(plan.calls):
        return failed(
            out,
            planned,
            FailureReason.TOOL_DENIED,
            f"every planned tool was denied: {sorted({c.tool for c in denied})}",
        )
    _request_calls(out, planned)
    step = Step.TOOLS if planned.pending_calls() else Step.VERIFY
    return advance(out, planned, step, now_ms, timeouts)


def _deny_calls(out: Out, plan: Plan, allowed: set[str]) -> tuple[list[ToolCall], list[ToolResult]]:
    """Emit ``PolicyDenied`` per planned call outside ``allowed``; their failed results."""
    denied = [c for c in plan.calls if c.tool not in allowed]
    results = []
    for call in denied:
        reason = f"tool {call.tool!r} is not in the allowed set {sorted(allowed)}"
        out.event(
            names.POLICY_DENIED,
            {"reason_code": ev.TOOL_NOT_ALLOWED, "detail": reason, "path": f"tool:{call.tool}",
             "policy_hash": None, "rule": ev.TOOL_NOT_ALLOWED},
            call.index,
        )
        results.append(
            ToolResult(
                call.index,
                call.tool,
                False,
                None,
                ev.TOOL_NOT_ALLOWED,
                reason,
                call_id=call.call_id,
            )
        )
    return denied, results


def _request_calls(out: Out, planned: TurnState) -> None:
    """Emit ``ToolCallRequested`` (with its idempotency key) per call still to run."""
    for call in planned.pending_calls():
        key = idem_key(planned.turn_id, Step.TOOLS.value, call.index)
        out.event(
            names.TOOL_CALL_REQUESTED,
            {
                "call_id": call.call_id,
                "tool": call.tool,
                "arguments_json": to_json(call.arguments),
                "idempotency_key": redis_idem_key(call.tool, key),
                "index": call.index,
            },
            call.index,
        )


def on_tool_delta(
    state: TurnState,
    index: int,
    chunk_index: int,
    text: str,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """Output chunk ``chunk_index`` (from 0) of running call ``index``: emit
    ``ToolCallDelta``. The returned action is the in-flight one; there is nothing
    new to start. Deltas of a call that already has a result are ignored."""
    guarded = guard(state, Step.TOOLS, now_ms, timeouts)
    if guarded is not None:
        return guarded
    call = _pending_call(state, index)
    if call is None:
        return noop(state, now_ms, timeouts)
    out = Out(state, now_ms)
    out.event(
        names.TOOL_CALL_DELTA,
        {"call_id": call.call_id, "chunk": text, "index": chunk_index},
        f"{index}:{chunk_index}",
    )
    return out.done(state, next_action(state, now_ms, timeouts))


def _pending_call(state: TurnState, index: int) -> ToolCall | None:
    if state.plan is None or not 0 <= index < len(state.plan.calls):
        raise InvalidTransition(f"turn {state.turn_id}: no planned tool call {index}")
    if index in state.completed_calls:
        return None
    return state.plan.calls[index]


def on_tool_result(
    state: TurnState,
    result: ToolResult,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """A call finished: emit ``ToolCallCompleted`` or ``ToolCallFailed`` (a failed
    call does not fail the turn), meter it (agent ``tool:<name>``, unless it never
    executed: :data:`NOT_EXECUTED_CODES`), then run the next call or verify.
    A second result for the same index is ignored."""
    guarded = guard(state, Step.TOOLS, now_ms, timeouts)
    if guarded is not None:
        return guarded
    call = _pending_call(state, result.index)
    if call is None:
        return noop(state, now_ms, timeouts)
    if call.tool != result.tool:
        raise InvalidTransition(
            f"turn {state.turn_id}: result for call {result.index} names tool "
            f"{result.tool!r}, the plan has {call.tool!r}"
        )
    result = result if result.call_id == call.call_id else _replace_call_id(result, call.call_id)
    out = Out(state, now_ms)
    if result.ok:
        source = out.event(
            names.TOOL_CALL_COMPLETED,
            {
                "call_id": result.call_id,
                "tool": result.tool,
                "result_json": to_json(result.output),
                "duration_ms": result.duration_ms,
                "exit_code": result.exit_code,
            },
            result.index,
        )
    else:
        source = out.event(
            names.TOOL_CALL_FAILED,
            {
                "call_id": result.call_id,
                "tool": result.tool,
                "reason_code": result.error_code,
                "message": result.error,
            },
            result.index,
        )
    if result.ok or result.error_code not in NOT_EXECUTED_CODES:
        out.meter(
            source,
            f"tool:{result.tool}",
            tool_calls=1,
            detail={"call_id": result.call_id, "ok": result.ok, "duration_ms": result.duration_ms},
        )
    new = state.evolve(
        tool_results=(*state.tool_results, result),
        completed_calls=state.completed_calls | {result.index},
        step_started_at_ms=now_ms,
    )
    if new.pending_calls():
        return out.done(new, next_action(new, now_ms, timeouts))
    return advance(out, new, Step.VERIFY, now_ms, timeouts)


def _replace_call_id(result: ToolResult, call_id: str) -> ToolResult:
    return replace(result, call_id=call_id)


def on_verified(
    state: TurnState,
    answer: Answer,
    problems: Sequence[str],
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """The composed ``answer`` was checked; ``problems`` lists failed checks (see
    :func:`somagent.turns.verify.verify`). Emit ``TurnVerified`` either way;
    any problem then fails the turn with ``verify_failed``, otherwise ask to
    answer. Answer-composition tokens are metered."""
    guarded = guard(state, Step.VERIFY, now_ms, timeouts)
    if guarded is not None:
        return guarded
    out = Out(state, now_ms)
    verified = {"ok": not problems, "checks": list(CHECKS), "problems": list(problems)}
    verified_id = out.event(names.TURN_VERIFIED, verified)
    out.tokens(verified_id, answer.usage)
    if problems:
        return failed(out, state, FailureReason.VERIFY_FAILED, "; ".join(problems))
    return advance(out, state, Step.ANSWER, now_ms, timeouts, answer=answer)


def _tokens(state: TurnState) -> tuple[int, int]:
    usages: list[TokenUsage] = []
    if state.plan is not None and state.plan.usage is not None:
        usages.append(state.plan.usage)
    if state.answer is not None and state.answer.usage is not None:
        usages.append(state.answer.usage)
    return sum(u.prompt_tokens for u in usages), sum(u.completion_tokens for u in usages)


def on_answered(
    state: TurnState,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
    egress_bytes: int | None = None,
) -> Transition:
    """The answer was sent: emit ``TurnAnswered`` and meter egress (agent ``edge``;
    default: the UTF-8 size of the answer text); then remember, or complete."""
    guarded = guard(state, Step.ANSWER, now_ms, timeouts)
    if guarded is not None:
        return guarded
    answer = state.answer or Answer("")
    tokens_in, tokens_out = _tokens(state)
    out = Out(state, now_ms)
    answered_id = out.event(
        names.TURN_ANSWERED,
        {
            "text": answer.text,
            "citations": list(answer.citations),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
        },
    )
    size = len(answer.text.encode()) if egress_bytes is None else egress_bytes
    if size > 0:
        out.meter(answered_id, ev.AGENT_EDGE, egress_bytes=size)
    if state.allow_memory_write:
        return advance(out, state, Step.REMEMBER, now_ms, timeouts)
    return _complete(out, state, now_ms)


def on_remembered(
    state: TurnState,
    memory_ids: Sequence[str],
    bytes_written: int,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """The memory write was requested (``MemoryRememberRequested`` appended by the
    driver): meter ``bytes_written`` (agent ``memory``) and complete."""
    guarded = guard(state, Step.REMEMBER, now_ms, timeouts)
    if guarded is not None:
        return guarded
    out = Out(state, now_ms)
    if bytes_written > 0:
        out.meter(
            event_id(state.turn_id, "Remember", 0),
            ev.AGENT_MEMORY,
            storage_bytes=bytes_written,
            detail={"memory_ids": list(memory_ids)},
        )
    return _complete(out, state, now_ms)


def _complete(out: Out, state: TurnState, now_ms: int) -> Transition:
    new = state.evolve(
        step=Step.COMPLETED, step_started_at_ms=now_ms, steps_done=state.steps_done + 1
    )
    completed_event(out, new, now_ms)
    return out.done(new, Finish(Step.COMPLETED))


# -- ending early ----------------------------------------------------------------


def fail(
    state: TurnState,
    reason: FailureReason,
    detail: str,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """End the turn with ``TurnFailed`` then ``TurnCompleted`` (no-op when terminal)."""
    if state.terminal:
        return noop(state, now_ms, timeouts)
    return failed(Out(state, now_ms), state, reason, detail)


def on_step_error(
    state: TurnState, detail: str, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS
) -> Transition:
    """The current step's adapter raised: fail with that step's reason code."""
    reason = _STEP_ERROR_REASON.get(state.step, FailureReason.INTERNAL_ERROR)
    return fail(state, reason, detail, now_ms, timeouts)


def on_step_timeout(
    state: TurnState, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS, detail: str = ""
) -> Transition:
    """The current step ran past its timeout: fail with ``step_timeout``."""
    text = detail or (
        f"step {state.step.value} exceeded {timeouts.for_step(state.step)} ms "
        f"(started {state.step_started_at_ms} ms, now {now_ms} ms)"
    )
    return fail(state, FailureReason.STEP_TIMEOUT, text, now_ms, timeouts)


def cancel(
    state: TurnState, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS, detail: str = ""
) -> Transition:
    """Cancel the turn: set ``cancelled`` and fail with ``cancelled``."""
    if state.terminal:
        return noop(state, now_ms, timeouts)
    flagged = state.evolve(cancelled=True)
    return failed(
        Out(flagged, now_ms), flagged, FailureReason.CANCELLED, detail or "turn was cancelled"
    )


def tick(
    state: TurnState, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS
) -> Transition | None:
    """Periodic check: the failing transition when the deadline passed, the turn
    was cancelled or the current step outran its timeout; ``None`` otherwise."""
    if state.terminal:
        return None
    guarded = guard(state, None, now_ms, timeouts)
    if guarded is not None:
        return guarded
    limit = timeouts.for_step(state.step)
    if limit and now_ms - state.step_started_at_ms > limit:
        return on_step_timeout(state, now_ms, timeouts)
    return None
