"""Pure transition functions of the turn state machine.

Ingest → Recall → Plan → Tools → Verify → Answer → Remember (only when the
request allows memory writes) → Completed, or Failed with a
:class:`~somagent.turns.state.FailureReason` at any step.

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
* Event ids are deterministic (:func:`somagent.turns.ids.event_id`): re-running
  a step after a crash re-emits the same ids.

Driving loop (the Faust agent)::

    t = start(request, now_ms)               # or resume(stored_state, now_ms)
    while True:
        publish(t.events, t.usage); table[turn] = state_to_dict(t.state)
        if isinstance(t.action, Finish): break
        outcome = await perform(t.action)    # bounded by t.action.timeout_ms
        t = on_recalled(t.state, ..., now_ms)  # the matching on_* function
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from somagent.turns import events as ev
from somagent.turns.exceptions import InvalidTransition
from somagent.turns.ids import event_id, idem_key
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
)

#: Tool-result error codes for calls that never executed; they are not billed.
NOT_EXECUTED_CODES = frozenset(
    {"tool_denied", "invalid_arguments", "rate_limited", "budget_exceeded", "circuit_open"}
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


@dataclass(frozen=True)
class StepTimeouts:
    """Upper bound for each step, in ms; a tool call gets ``tool_call_ms`` each."""

    recall_ms: int = 5_000
    plan_ms: int = 30_000
    tool_call_ms: int = 30_000
    verify_ms: int = 5_000
    answer_ms: int = 30_000
    remember_ms: int = 10_000

    def for_step(self, step: Step) -> int:
        return {
            Step.RECALL: self.recall_ms,
            Step.PLAN: self.plan_ms,
            Step.TOOLS: self.tool_call_ms,
            Step.VERIFY: self.verify_ms,
            Step.ANSWER: self.answer_ms,
            Step.REMEMBER: self.remember_ms,
        }.get(step, 0)


DEFAULT_TIMEOUTS = StepTimeouts()


# -- actions ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecall:
    """Recall evidence for ``query``; then call :func:`on_recalled`."""

    query: str
    timeout_ms: int


@dataclass(frozen=True)
class RunPlan:
    """Ask the planner for a plan; then call :func:`on_planned`."""

    timeout_ms: int


@dataclass(frozen=True)
class RunToolCall:
    """Run one tool call through the broker with ``idem_key``; then :func:`on_tool_result`.

    The broker bounds the call by ``min(timeout_ms, the tool's timeout_s)``.
    """

    call: ToolCall
    idem_key: str
    timeout_ms: int

    @property
    def index(self) -> int:
        return self.call.index


@dataclass(frozen=True)
class RunVerify:
    """Compose the answer (planner) and verify it; then call :func:`on_verified`."""

    timeout_ms: int


@dataclass(frozen=True)
class RunAnswer:
    """Send the verified answer; then call :func:`on_answered`."""

    timeout_ms: int


@dataclass(frozen=True)
class RunRemember:
    """Write the turn to memory; then call :func:`on_remembered`."""

    timeout_ms: int


@dataclass(frozen=True)
class Finish:
    """The turn is over (``step`` is COMPLETED or FAILED); nothing more to run."""

    step: Step
    failure: Failure | None = None


Action = RunRecall | RunPlan | RunToolCall | RunVerify | RunAnswer | RunRemember | Finish


@dataclass(frozen=True)
class Transition:
    """What one outcome produced. Publish ``events`` and ``usage``, store ``state``."""

    state: TurnState
    events: tuple[ev.TurnEvent, ...]
    action: Action
    usage: tuple[ev.UsageRecord, ...] = ()


@dataclass(frozen=True)
class TurnRequest:
    """The parts of ``TurnRequested`` the machine needs. ``seq`` is that event's seq."""

    turn_id: str
    session_id: str
    tenant: str
    text: str
    deadline_at_ms: int
    allow_tools: tuple[str, ...] = ()
    allow_memory_write: bool = False
    seq: int = 0


# -- emitting --------------------------------------------------------------------


@dataclass
class _Out:
    """Collects the events of one transition, numbering them from ``state.seq + 1``."""

    state: TurnState
    now_ms: int
    events: list[ev.TurnEvent] = field(default_factory=list)
    usage: list[ev.UsageRecord] = field(default_factory=list)

    @property
    def seq(self) -> int:
        return self.state.seq + len(self.events)

    def event(self, type_: str, step: Step, payload: dict[str, Any], index: int | str = 0) -> None:
        s = self.state
        self.events.append(
            ev.TurnEvent(
                event_id=event_id(s.turn_id, step.value, index, type_),
                type=type_,
                ts=self.now_ms,
                tenant=s.tenant,
                session=s.session_id,
                turn=s.turn_id,
                seq=self.seq + 1,
                payload=payload,
            )
        )

    def meter(
        self,
        kind: str,
        quantity: int,
        unit: str,
        step: Step,
        index: int | str,
        detail: dict[str, Any],
    ) -> None:
        s = self.state
        self.usage.append(
            ev.UsageRecord(
                event_id=event_id(s.turn_id, step.value, index, f"usage:{kind}"),
                ts=self.now_ms,
                tenant=s.tenant,
                session=s.session_id,
                turn=s.turn_id,
                seq=self.seq,
                kind=kind,
                quantity=quantity,
                unit=unit,
                detail=detail,
            )
        )

    def tokens(self, usage: TokenUsage | None, step: Step) -> None:
        if usage is None or usage.total_tokens <= 0:
            return
        self.meter(ev.USAGE_TOKENS, usage.total_tokens, "tokens", step, 0, usage.to_dict())

    def done(self, state: TurnState, action: Action) -> Transition:
        final = state.evolve(seq=self.seq)
        return Transition(final, tuple(self.events), action, tuple(self.usage))


def _action_timeout(state: TurnState, now_ms: int, timeouts: StepTimeouts) -> int:
    return max(0, min(timeouts.for_step(state.step), state.deadline_at_ms - now_ms))


def next_action(state: TurnState, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS) -> Action:
    """The action for ``state.step``: after a crash this is the step after the last
    completed one (for TOOLS, the first call without a recorded result)."""
    if state.terminal:
        return Finish(state.step, state.failure)
    timeout_ms = _action_timeout(state, now_ms, timeouts)
    if state.step is Step.RECALL:
        return RunRecall(state.text, timeout_ms)
    if state.step is Step.PLAN:
        return RunPlan(timeout_ms)
    if state.step is Step.TOOLS:
        pending = state.pending_calls()
        if not pending:
            return RunVerify(timeout_ms)
        call = pending[0]
        return RunToolCall(call, idem_key(state.turn_id, Step.TOOLS.value, call.index), timeout_ms)
    if state.step is Step.VERIFY:
        return RunVerify(timeout_ms)
    if state.step is Step.ANSWER:
        return RunAnswer(timeout_ms)
    if state.step is Step.REMEMBER:
        return RunRemember(timeout_ms)
    raise InvalidTransition(f"turn {state.turn_id}: no action for step {state.step.value}")


def _advance(
    out: _Out, state: TurnState, step: Step, now_ms: int, timeouts: StepTimeouts, **changes: Any
) -> Transition:
    new = state.evolve(step=step, step_started_at_ms=now_ms, **changes)
    return out.done(new, next_action(new, now_ms, timeouts))


def _noop(state: TurnState, now_ms: int, timeouts: StepTimeouts) -> Transition:
    return Transition(state, (), next_action(state, now_ms, timeouts))


def _failed(out: _Out, state: TurnState, reason: FailureReason, detail: str) -> Transition:
    failure = Failure(reason, detail, state.step)
    out.event(ev.TURN_FAILED, state.step, failure.to_dict(), 0)
    new = state.evolve(step=Step.FAILED, failure=failure)
    return out.done(new, Finish(Step.FAILED, failure))


def _guard(
    state: TurnState, expected: Step | None, now_ms: int, timeouts: StepTimeouts
) -> Transition | None:
    """A transition that pre-empts the outcome (terminal, cancelled, past deadline)."""
    if state.terminal:
        return _noop(state, now_ms, timeouts)
    if state.cancelled:
        return _failed(_Out(state, now_ms), state, FailureReason.CANCELLED, "turn was cancelled")
    if now_ms >= state.deadline_at_ms:
        return _failed(
            _Out(state, now_ms),
            state,
            FailureReason.DEADLINE_EXCEEDED,
            f"deadline {state.deadline_at_ms} ms passed at {now_ms} ms "
            f"during step {state.step.value}",
        )
    if expected is not None and state.step is not expected:
        raise InvalidTransition(
            f"turn {state.turn_id}: outcome for step {expected.value} "
            f"but the turn is at step {state.step.value}"
        )
    return None


# -- lifecycle -------------------------------------------------------------------


def start(
    request: TurnRequest, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS
) -> Transition:
    """Ingest a request: emit ``TurnStarted`` and ask for recall (or fail it)."""
    state = TurnState(
        turn_id=request.turn_id,
        session_id=request.session_id,
        tenant=request.tenant,
        text=request.text,
        step=Step.INGEST,
        deadline_at_ms=request.deadline_at_ms,
        started_at_ms=now_ms,
        allow_tools=tuple(request.allow_tools),
        allow_memory_write=request.allow_memory_write,
        seq=request.seq,
        step_started_at_ms=now_ms,
    )
    out = _Out(state, now_ms)
    if not request.text.strip():
        return _failed(out, state, FailureReason.INVALID_REQUEST, "turn text is empty")
    if request.deadline_at_ms <= now_ms:
        return _failed(
            out,
            state,
            FailureReason.DEADLINE_EXCEEDED,
            f"deadline {request.deadline_at_ms} ms is not after the start {now_ms} ms",
        )
    out.event(
        ev.TURN_STARTED,
        Step.INGEST,
        {
            "text_chars": len(request.text),
            "allow_tools": list(request.allow_tools),
            "allow_memory_write": request.allow_memory_write,
            "deadline_at_ms": request.deadline_at_ms,
        },
    )
    return _advance(out, state, Step.RECALL, now_ms, timeouts)


def resume(state: TurnState, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS) -> Transition:
    """Continue a turn restored from the table after a restart.

    No events unless the turn must fail now (cancelled or past its deadline);
    the action is the step after the last completed one.
    """
    guarded = _guard(state, None, now_ms, timeouts)
    if guarded is not None:
        return guarded
    return Transition(
        state.evolve(step_started_at_ms=now_ms), (), next_action(state, now_ms, timeouts)
    )


def on_recalled(
    state: TurnState,
    evidence: Sequence[Evidence],
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """Recall finished: emit ``TurnRecalled`` and ask for a plan."""
    guarded = _guard(state, Step.RECALL, now_ms, timeouts)
    if guarded is not None:
        return guarded
    out = _Out(state, now_ms)
    out.event(
        ev.TURN_RECALLED,
        Step.RECALL,
        {
            "count": len(evidence),
            "evidence": [{"id": e.id, "score": e.score, "source": e.source} for e in evidence],
        },
    )
    return _advance(out, state, Step.PLAN, now_ms, timeouts, evidence=tuple(evidence))


def on_planned(
    state: TurnState,
    plan: Plan,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
    allowed_tools: Collection[str] | None = None,
) -> Transition:
    """A plan arrived: emit ``TurnPlanned``, ``PolicyDenied`` per call outside
    ``allowed_tools`` (default: the request's ``allow_tools``) and
    ``ToolCallRequested`` per allowed call; then run the first call.

    Denied calls are recorded as failed results (``tool_denied``) and never run;
    if every call of a non-empty plan is denied the turn fails with ``tool_denied``.
    Call indexes must be 0..n-1 in order.
    """
    guarded = _guard(state, Step.PLAN, now_ms, timeouts)
    if guarded is not None:
        return guarded
    indexes = [c.index for c in plan.calls]
    if indexes != list(range(len(plan.calls))):
        raise InvalidTransition(
            f"turn {state.turn_id}: plan call indexes must be 0..n-1 in order, got {indexes}"
        )
    allowed = set(state.allow_tools if allowed_tools is None else allowed_tools)
    out = _Out(state, now_ms)
    out.event(ev.TURN_PLANNED, Step.PLAN, plan.to_dict())
    out.tokens(plan.usage, Step.PLAN)
    denied = [c for c in plan.calls if c.tool not in allowed]
    results = []
    for call in denied:
        reason = f"tool {call.tool!r} is not in the allowed set {sorted(allowed)}"
        out.event(
            ev.POLICY_DENIED,
            Step.PLAN,
            {"index": call.index, "call_id": call.call_id, "tool": call.tool, "reason": reason},
            call.index,
        )
        results.append(ToolResult(call.index, call.tool, False, None, "tool_denied", reason))
    planned = state.evolve(
        plan=plan,
        tool_results=tuple(results),
        completed_calls=frozenset(c.index for c in denied),
    )
    if denied and len(denied) == len(plan.calls):
        return _failed(
            out,
            planned,
            FailureReason.TOOL_DENIED,
            f"every planned tool was denied: {sorted({c.tool for c in denied})}",
        )
    for call in planned.pending_calls():
        payload = call.to_dict()
        payload["idem_key"] = idem_key(state.turn_id, Step.TOOLS.value, call.index)
        out.event(ev.TOOL_CALL_REQUESTED, Step.TOOLS, payload, call.index)
    step = Step.TOOLS if planned.pending_calls() else Step.VERIFY
    return _advance(out, planned, step, now_ms, timeouts)


def on_tool_delta(
    state: TurnState,
    index: int,
    chunk_index: int,
    text: str,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """Output produced by a running call: emit ``ToolCallDelta``.

    The returned action is the in-flight one; there is nothing new to start.
    Deltas of a call that already has a result are ignored.
    """
    guarded = _guard(state, Step.TOOLS, now_ms, timeouts)
    if guarded is not None:
        return guarded
    call = _pending_call(state, index)
    if call is None:
        return _noop(state, now_ms, timeouts)
    out = _Out(state, now_ms)
    out.event(
        ev.TOOL_CALL_DELTA,
        Step.TOOLS,
        {"index": index, "call_id": call.call_id, "chunk_index": chunk_index, "text": text},
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
    call does not fail the turn), meter it, then run the next call or verify."""
    guarded = _guard(state, Step.TOOLS, now_ms, timeouts)
    if guarded is not None:
        return guarded
    call = _pending_call(state, result.index)
    if call is None:
        return _noop(state, now_ms, timeouts)
    if call.tool != result.tool:
        raise InvalidTransition(
            f"turn {state.turn_id}: result for call {result.index} names tool "
            f"{result.tool!r}, the plan has {call.tool!r}"
        )
    out = _Out(state, now_ms)
    payload = result.to_dict()
    out.event(
        ev.TOOL_CALL_COMPLETED if result.ok else ev.TOOL_CALL_FAILED,
        Step.TOOLS,
        payload,
        result.index,
    )
    if result.ok or result.error_code not in NOT_EXECUTED_CODES:
        out.meter(
            ev.USAGE_TOOL_CALL,
            1,
            "calls",
            Step.TOOLS,
            result.index,
            {
                "tool": result.tool,
                "call_id": result.call_id,
                "ok": result.ok,
                "duration_ms": result.duration_ms,
            },
        )
    new = state.evolve(
        tool_results=(*state.tool_results, result),
        completed_calls=state.completed_calls | {result.index},
        step_started_at_ms=now_ms,
    )
    if new.pending_calls():
        return out.done(new, next_action(new, now_ms, timeouts))
    return _advance(out, new, Step.VERIFY, now_ms, timeouts)


def on_verified(
    state: TurnState,
    answer: Answer,
    failures: Sequence[str],
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """The composed ``answer`` was checked; ``failures`` lists failed checks
    (see :func:`somagent.turns.verify.verify`). Any failure fails the turn with
    ``verify_failed``; otherwise emit ``TurnVerified`` and ask to answer."""
    guarded = _guard(state, Step.VERIFY, now_ms, timeouts)
    if guarded is not None:
        return guarded
    out = _Out(state, now_ms)
    out.tokens(answer.usage, Step.VERIFY)
    if failures:
        return _failed(out, state, FailureReason.VERIFY_FAILED, "; ".join(failures))
    out.event(
        ev.TURN_VERIFIED,
        Step.VERIFY,
        {
            "ok": True,
            "citations": list(answer.citations),
            "tool_results": len(state.tool_results),
            "evidence": len(state.evidence),
        },
    )
    return _advance(out, state, Step.ANSWER, now_ms, timeouts, answer=answer)


def on_answered(
    state: TurnState,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
    egress_bytes: int | None = None,
) -> Transition:
    """The answer was sent: emit ``TurnAnswered`` and meter egress (default: the
    UTF-8 size of the answer text); then remember, or complete."""
    guarded = _guard(state, Step.ANSWER, now_ms, timeouts)
    if guarded is not None:
        return guarded
    answer = state.answer or Answer("")
    out = _Out(state, now_ms)
    out.event(
        ev.TURN_ANSWERED, Step.ANSWER, {"text": answer.text, "citations": list(answer.citations)}
    )
    size = len(answer.text.encode()) if egress_bytes is None else egress_bytes
    out.meter(ev.USAGE_EGRESS, size, "bytes", Step.ANSWER, 0, {})
    if state.allow_memory_write:
        return _advance(out, state, Step.REMEMBER, now_ms, timeouts)
    return _complete(out, state, now_ms)


def on_remembered(
    state: TurnState,
    memory_ids: Sequence[str],
    bytes_written: int,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """Memory was written: emit ``TurnRemembered``, meter storage, complete."""
    guarded = _guard(state, Step.REMEMBER, now_ms, timeouts)
    if guarded is not None:
        return guarded
    out = _Out(state, now_ms)
    out.event(
        ev.TURN_REMEMBERED,
        Step.REMEMBER,
        {"memory_ids": list(memory_ids), "bytes_written": bytes_written},
    )
    out.meter(
        ev.USAGE_STORAGE, bytes_written, "bytes", Step.REMEMBER, 0, {"memory_ids": list(memory_ids)}
    )
    return _complete(out, state, now_ms)


def _complete(out: _Out, state: TurnState, now_ms: int) -> Transition:
    out.event(
        ev.TURN_COMPLETED,
        Step.COMPLETED,
        {"duration_ms": now_ms - state.started_at_ms, "tool_calls": len(state.tool_results)},
    )
    new = state.evolve(step=Step.COMPLETED, step_started_at_ms=now_ms)
    return out.done(new, Finish(Step.COMPLETED))


# -- ending early ----------------------------------------------------------------


def fail(
    state: TurnState,
    reason: FailureReason,
    detail: str,
    now_ms: int,
    timeouts: StepTimeouts = DEFAULT_TIMEOUTS,
) -> Transition:
    """End the turn with ``TurnFailed`` (no-op on a terminal state)."""
    if state.terminal:
        return _noop(state, now_ms, timeouts)
    return _failed(_Out(state, now_ms), state, reason, detail)


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
        return _noop(state, now_ms, timeouts)
    flagged = state.evolve(cancelled=True)
    return _failed(
        _Out(flagged, now_ms), flagged, FailureReason.CANCELLED, detail or "turn was cancelled"
    )


def tick(
    state: TurnState, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS
) -> Transition | None:
    """Periodic check: the failing transition when the deadline passed, the turn
    was cancelled or the current step outran its timeout; ``None`` otherwise."""
    if state.terminal:
        return None
    guarded = _guard(state, None, now_ms, timeouts)
    if guarded is not None:
        return guarded
    limit = timeouts.for_step(state.step)
    if limit and now_ms - state.step_started_at_ms > limit:
        return on_step_timeout(state, now_ms, timeouts)
    return None
