"""Actions the turn machine asks its driver to perform, and what a transition returns."""

from __future__ import annotations

from dataclasses import dataclass

from somagent.contract.envelope import Envelope
from somagent.turns import events as ev
from somagent.turns.state import Failure, Step, ToolCall, TurnState


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
    """Recall up to ``top_k`` evidence blocks for ``query`` (``capsule_ids`` None: no
    capsule restriction); then call :func:`on_recalled`."""

    query: str
    capsule_ids: tuple[str, ...] | None
    timeout_ms: int
    top_k: int = 5


@dataclass(frozen=True)
class RunPlan:
    """Ask the planner for a plan over the allowed tools; then call :func:`on_planned`."""

    timeout_ms: int


@dataclass(frozen=True)
class RunToolCall:
    """Run one tool call through the broker with ``idem_key``; then :func:`on_tool_result`.

    ``call.call_id`` is set. The broker bounds the call by
    ``min(timeout_ms, the tool's timeout_s)``; the Redis key of the idempotency
    record is ``idem:{tool}:{idem_key}``.
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
    """Send the verified answer (``state.answer``); then call :func:`on_answered`."""

    timeout_ms: int


@dataclass(frozen=True)
class RunRemember:
    """Request the memory write (``MemoryRememberRequested`` on ``memory.events``);
    then call :func:`on_remembered`."""

    timeout_ms: int


@dataclass(frozen=True)
class Finish:
    """The turn is over (``step`` is COMPLETED or FAILED); nothing more to run."""

    step: Step
    failure: Failure | None = None


Action = RunRecall | RunPlan | RunToolCall | RunVerify | RunAnswer | RunRemember | Finish


@dataclass(frozen=True)
class Transition:
    """What one outcome produced. Publish ``events`` and ``usage``, then store ``state``."""

    state: TurnState
    events: tuple[Envelope, ...]
    action: Action
    usage: tuple[ev.UsageRecord, ...] = ()
