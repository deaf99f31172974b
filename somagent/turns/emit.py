"""Building transitions: numbering events, metering, guards and the next action.

Internal to :mod:`somagent.turns.machine`; pure like the rest of ``turns``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from somagent.contract import names
from somagent.contract.envelope import Envelope
from somagent.contract.ids import event_id, idem_key, usage_id
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
from somagent.turns.exceptions import InvalidTransition
from somagent.turns.state import Failure, FailureReason, Step, TokenUsage, TurnState


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class Out:
    """Collects the records of one transition, numbering events from ``state.seq + 1``."""

    state: TurnState
    now_ms: int
    events: list[Envelope] = field(default_factory=list)
    usage: list[ev.UsageRecord] = field(default_factory=list)

    @property
    def seq(self) -> int:
        return self.state.seq + len(self.events)

    def event(self, type_: str, payload: dict[str, Any], index: int | str = 0) -> str:
        s = self.state
        eid = event_id(s.turn_id, type_, index)
        self.events.append(
            Envelope(
                event_id=eid,
                type=type_,
                ts=self.now_ms * 1000,
                tenant=s.tenant,
                session=s.session_id,
                turn=s.turn_id,
                trace_id=s.trace_id,
                seq=self.seq + 1,
                producer=ev.PRODUCER,
                payload=payload,
            )
        )
        return eid

    def meter(self, source_event_id: str, agent: str, **counts: Any) -> None:
        s = self.state
        detail = counts.pop("detail", {})
        self.usage.append(
            ev.UsageRecord(
                usage_id=usage_id(source_event_id, agent),
                ts=self.now_ms * 1000,
                tenant=s.tenant,
                session=s.session_id,
                turn=s.turn_id,
                trace_id=s.trace_id,
                seq=self.seq,
                agent=agent,
                detail=detail,
                **counts,
            )
        )

    def tokens(self, source_event_id: str, usage: TokenUsage | None) -> None:
        if usage is not None and usage.total_tokens > 0:
            self.meter(
                source_event_id,
                ev.AGENT_PLANNER,
                tokens=usage.total_tokens,
                detail=usage.to_dict(),
            )

    def done(self, state: TurnState, action: Action) -> Transition:
        final = state.evolve(seq=self.seq)
        return Transition(final, tuple(self.events), action, tuple(self.usage))


def action_timeout(state: TurnState, now_ms: int, timeouts: StepTimeouts) -> int:
    return max(0, min(timeouts.for_step(state.step), state.deadline_at_ms - now_ms))


def next_action(state: TurnState, now_ms: int, timeouts: StepTimeouts = DEFAULT_TIMEOUTS) -> Action:
    """The action for ``state.step``: after a crash this is the step after the last
    completed one (for TOOLS, the first call without a recorded result)."""
    if state.terminal:
        return Finish(state.step, state.failure)
    timeout_ms = action_timeout(state, now_ms, timeouts)
    if state.step is Step.RECALL:
        return RunRecall(state.text, state.capsule_ids, timeout_ms)
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


def advance(
    out: Out, state: TurnState, step: Step, now_ms: int, timeouts: StepTimeouts, **changes: Any
) -> Transition:
    new = state.evolve(
        step=step, step_started_at_ms=now_ms, steps_done=state.steps_done + 1, **changes
    )
    return out.done(new, next_action(new, now_ms, timeouts))


def noop(state: TurnState, now_ms: int, timeouts: StepTimeouts) -> Transition:
    return Transition(state, (), next_action(state, now_ms, timeouts))


def completed_event(out: Out, state: TurnState, now_ms: int) -> None:
    out.event(
        names.TURN_COMPLETED,
        {"duration_ms": max(0, now_ms - state.started_at_ms), "steps": state.steps_done},
    )


def failed(out: Out, state: TurnState, reason: FailureReason, detail: str) -> Transition:
    failure = Failure(reason, detail, state.step)
    out.event(
        names.TURN_FAILED,
        {"reason_code": reason.value, "message": detail, "step": state.step.value},
    )
    completed_event(out, state, out.now_ms)
    new = state.evolve(step=Step.FAILED, failure=failure)
    return out.done(new, Finish(Step.FAILED, failure))


def guard(
    state: TurnState, expected: Step | None, now_ms: int, timeouts: StepTimeouts
) -> Transition | None:
    """A transition that pre-empts the outcome (terminal, cancelled, past deadline)."""
    if state.terminal:
        return noop(state, now_ms, timeouts)
    if state.cancelled:
        return failed(Out(state, now_ms), state, FailureReason.CANCELLED, "turn was cancelled")
    if now_ms >= state.deadline_at_ms:
        return failed(
            Out(state, now_ms),
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
