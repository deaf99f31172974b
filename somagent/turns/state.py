"""The immutable state of one turn, and its JSON form for the progress table.

A :class:`TurnState` is what the Faust ``turns`` table stores per turn id. Its
``step`` is always the step that runs *next*: the step after the last one that
completed. Every field is plain data; :func:`state_to_dict` and
:func:`state_from_dict` round-trip it through JSON-compatible dicts exactly.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from somagent.turns.exceptions import InvalidTurnState


class Step(enum.StrEnum):
    """Steps of a turn in order; COMPLETED and FAILED are terminal."""

    INGEST = "ingest"
    RECALL = "recall"
    PLAN = "plan"
    TOOLS = "tools"
    VERIFY = "verify"
    ANSWER = "answer"
    REMEMBER = "remember"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (Step.COMPLETED, Step.FAILED)


class FailureReason(enum.StrEnum):
    """Why a turn ended in FAILED. Stable codes: clients and dashboards match on them.

    * ``deadline_exceeded`` – the turn's overall deadline passed before it completed.
    * ``cancelled`` – the client or an operator cancelled the turn.
    * ``step_timeout`` – one step (recall, plan, a tool call, verify, answer,
      remember) ran past its own timeout.
    * ``invalid_request`` – the request could not start a turn (empty text, bad deadline).
    * ``tool_denied`` – the plan asked for tools and every one of them was denied
      by policy (request ``allow.tools`` ∩ session policy), so nothing it asked for may run.
    * ``recall_failed`` / ``plan_failed`` / ``answer_failed`` / ``remember_failed`` –
      that step's adapter reported an error.
    * ``verify_failed`` – the answer failed verification (tool result schema,
      citations outside this turn, revealed PII); the detail lists the checks.
    * ``internal_error`` – an unexpected error in the worker; the detail names it.
    * ``duplicate_request`` – another ``TurnRequested`` with the same tenant and
      Idempotency-Key already started a turn (the detail names it); this one runs
      nothing, so no side effect happens twice.
    """

    DEADLINE_EXCEEDED = "deadline_exceeded"
    DUPLICATE_REQUEST = "duplicate_request"
    CANCELLED = "cancelled"
    STEP_TIMEOUT = "step_timeout"
    INVALID_REQUEST = "invalid_request"
    TOOL_DENIED = "tool_denied"
    RECALL_FAILED = "recall_failed"
    PLAN_FAILED = "plan_failed"
    VERIFY_FAILED = "verify_failed"
    ANSWER_FAILED = "answer_failed"
    REMEMBER_FAILED = "remember_failed"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class Evidence:
    """One recalled memory block; cited in answers as ``[mem:<memory_id>]``.

    Same fields as ``somagent.memory.model.EvidenceBlock`` (use
    :meth:`from_block`); ``score`` is cosine similarity, ``created_at_us`` epoch µs.
    """

    memory_id: str
    text: str
    score: float = 0.0
    source: str = ""
    created_at_us: int = 0
    trace_id: str = ""

    @classmethod
    def from_block(cls, block: Any) -> Evidence:
        """From any object with the ``EvidenceBlock`` attributes."""
        return cls(
            str(block.memory_id),
            str(block.text),
            float(block.score),
            str(getattr(block, "source", "")),
            int(getattr(block, "created_at_us", 0)),
            str(getattr(block, "trace_id", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory_id": self.memory_id,
            "text": self.text,
            "score": self.score,
            "source": self.source,
            "created_at_us": self.created_at_us,
            "trace_id": self.trace_id,
        }

    def to_event_dict(self) -> dict[str, Any]:
        """The Avro ``somagent.EvidenceBlock`` record."""
        return {
            "memory_id": self.memory_id,
            "text": self.text,
            "score_ppm": round(self.score * 1_000_000),
            "source": self.source,
            "created_at": self.created_at_us,
            "trace_id": self.trace_id,
        }


#: Argument key a planner uses when a model produced arguments that are not a JSON
#: object; the broker fails such a call with ``invalid-arguments``.
INVALID_JSON_KEY = "__invalid_json__"


@dataclass(frozen=True)
class ToolCall:
    """One planned tool call. ``arguments`` is JSON data; treat it as read-only.

    ``call_id`` is empty when a planner makes the call; the machine fills it
    with the deterministic ``tool_call_id(turn_id, index)`` when it accepts the
    plan. Answers cite a call as ``[tool:<call_id>]``.
    """

    index: int
    tool: str
    arguments: Mapping[str, Any]
    call_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "call_id": self.call_id,
            "tool": self.tool,
            "arguments": dict(self.arguments),
        }


@dataclass(frozen=True)
class ToolResult:
    """Outcome of one tool call. ``ok`` False carries ``error_code`` and ``error``.

    ``schema_ok`` says whether ``output`` matched the tool's result schema;
    verification fails a turn that would answer from a non-conforming result.
    """

    index: int
    tool: str
    ok: bool
    output: Any = None
    error_code: str = ""
    error: str = ""
    schema_ok: bool = True
    duration_ms: int = 0
    exit_code: int | None = None
    call_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "call_id": self.call_id,
            "tool": self.tool,
            "ok": self.ok,
            "output": self.output,
            "error_code": self.error_code,
            "error": self.error,
            "schema_ok": self.schema_ok,
            "duration_ms": self.duration_ms,
            "exit_code": self.exit_code,
        }


@dataclass(frozen=True)
class TokenUsage:
    """Tokens one planner call used; ``source`` is ``provider`` or ``tokenizer:<name>``."""

    prompt_tokens: int
    completion_tokens: int
    source: str

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "source": self.source,
        }


@dataclass(frozen=True)
class Plan:
    """The tool calls a planner chose (indexes 0..n-1 in order) and why."""

    calls: tuple[ToolCall, ...] = ()
    rationale: str = ""
    planner: str = ""
    usage: TokenUsage | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": [c.to_dict() for c in self.calls],
            "rationale": self.rationale,
            "planner": self.planner,
            "usage": self.usage.to_dict() if self.usage else None,
        }


@dataclass(frozen=True)
class Answer:
    """Answer text with inline citations (``[mem:<id>]``, ``[tool:<call_id>]``)."""

    text: str
    citations: tuple[str, ...] = ()
    usage: TokenUsage | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": list(self.citations),
            "usage": self.usage.to_dict() if self.usage else None,
        }


@dataclass(frozen=True)
class Failure:
    """Why and where a turn failed."""

    reason: FailureReason
    detail: str
    step: Step

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason.value, "detail": self.detail, "step": self.step.value}


@dataclass(frozen=True)
class TurnState:
    """Progress of one turn. ``step`` is the next step to run.

    ``seq`` is the sequence number of the last event this turn emitted (the
    edge's ``TurnRequested`` has the starting value); the next event gets
    ``seq + 1``. ``completed_calls`` holds the indexes of tool calls whose result
    is recorded, so a resumed turn never runs them again.
    """

    turn_id: str
    session_id: str
    tenant: str
    text: str
    step: Step
    deadline_at_ms: int
    started_at_ms: int
    allow_tools: tuple[str, ...] = ()
    allow_memory_read: bool = True
    allow_memory_write: bool = False
    capsule_ids: tuple[str, ...] | None = None
    trace_id: str = ""
    seq: int = 0
    cancelled: bool = False
    evidence: tuple[Evidence, ...] = ()
    plan: Plan | None = None
    completed_calls: frozenset[int] = field(default_factory=frozenset)
    tool_results: tuple[ToolResult, ...] = ()
    answer: Answer | None = None
    failure: Failure | None = None
    step_started_at_ms: int = 0
    steps_done: int = 0
    #: The session's tool calls per minute from the request (None: not stated).
    tools_per_min: int | None = None

    @property
    def terminal(self) -> bool:
        return self.step.terminal

    def pending_calls(self) -> tuple[ToolCall, ...]:
        """Planned calls without a recorded result, in index order."""
        if self.plan is None:
            return ()
        return tuple(c for c in self.plan.calls if c.index not in self.completed_calls)

    def evolve(self, **changes: Any) -> TurnState:
        return replace(self, **changes)


# -- JSON form -------------------------------------------------------------------


def _usage_from(data: Mapping[str, Any] | None) -> TokenUsage | None:
    if data is None:
        return None
    return TokenUsage(
        int(data["prompt_tokens"]), int(data["completion_tokens"]), str(data["source"])
    )


def _plan_from(data: Mapping[str, Any] | None) -> Plan | None:
    if data is None:
        return None
    calls = tuple(
        ToolCall(int(c["index"]), str(c["tool"]), dict(c["arguments"]), str(c["call_id"]))
        for c in data["calls"]
    )
    return Plan(calls, str(data["rationale"]), str(data["planner"]), _usage_from(data["usage"]))


def _result_from(d: Mapping[str, Any]) -> ToolResult:
    return ToolResult(
        index=int(d["index"]),
        tool=str(d["tool"]),
        ok=bool(d["ok"]),
        output=d["output"],
        error_code=str(d["error_code"]),
        error=str(d["error"]),
        schema_ok=bool(d["schema_ok"]),
        duration_ms=int(d["duration_ms"]),
        exit_code=None if d["exit_code"] is None else int(d["exit_code"]),
        call_id=str(d["call_id"]),
    )


def state_to_dict(state: TurnState) -> dict[str, Any]:
    """JSON-compatible dict of a state (for the changelog-backed table)."""
    return {
        "version": 1,
        "turn_id": state.turn_id,
        "session_id": state.session_id,
        "tenant": state.tenant,
        "text": state.text,
        "step": state.step.value,
        "deadline_at_ms": state.deadline_at_ms,
        "started_at_ms": state.started_at_ms,
        "allow_tools": list(state.allow_tools),
        "allow_memory_read": state.allow_memory_read,
        "allow_memory_write": state.allow_memory_write,
        "capsule_ids": None if state.capsule_ids is None else list(state.capsule_ids),
        "trace_id": state.trace_id,
        "seq": state.seq,
        "cancelled": state.cancelled,
        "evidence": [e.to_dict() for e in state.evidence],
        "plan": state.plan.to_dict() if state.plan else None,
        "completed_calls": sorted(state.completed_calls),
        "tool_results": [r.to_dict() for r in state.tool_results],
        "answer": state.answer.to_dict() if state.answer else None,
        "failure": state.failure.to_dict() if state.failure else None,
        "step_started_at_ms": state.step_started_at_ms,
        "steps_done": state.steps_done,
        "tools_per_min": state.tools_per_min,
    }


def state_from_dict(data: Mapping[str, Any]) -> TurnState:
    """Inverse of :func:`state_to_dict`; raises :class:`InvalidTurnState` naming the field."""
    try:
        answer = data["answer"]
        failure = data["failure"]
        return TurnState(
            turn_id=str(data["turn_id"]),
            session_id=str(data["session_id"]),
            tenant=str(data["tenant"]),
            text=str(data["text"]),
            step=Step(data["step"]),
            deadline_at_ms=int(data["deadline_at_ms"]),
            started_at_ms=int(data["started_at_ms"]),
            allow_tools=tuple(str(t) for t in data["allow_tools"]),
            allow_memory_read=bool(data["allow_memory_read"]),
            allow_memory_write=bool(data["allow_memory_write"]),
            capsule_ids=None
            if data["capsule_ids"] is None
            else tuple(str(c) for c in data["capsule_ids"]),
            trace_id=str(data["trace_id"]),
            seq=int(data["seq"]),
            cancelled=bool(data["cancelled"]),
            evidence=tuple(
                Evidence(
                    str(e["memory_id"]),
                    str(e["text"]),
                    float(e["score"]),
                    str(e["source"]),
                    int(e["created_at_us"]),
                    str(e["trace_id"]),
                )
                for e in data["evidence"]
            ),
            plan=_plan_from(data["plan"]),
            completed_calls=frozenset(int(i) for i in data["completed_calls"]),
            tool_results=tuple(_result_from(r) for r in data["tool_results"]),
            answer=None
            if answer is None
            else Answer(
                str(answer["text"]),
                tuple(str(c) for c in answer["citations"]),
                _usage_from(answer["usage"]),
            ),
            failure=None
            if failure is None
            else Failure(
                FailureReason(failure["reason"]), str(failure["detail"]), Step(failure["step"])
            ),
            step_started_at_ms=int(data["step_started_at_ms"]),
            steps_done=int(data["steps_done"]),
            # absent in states stored before the field existed
            tools_per_min=None
            if data.get("tools_per_min") is None
            else int(data["tools_per_min"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        turn = data.get("turn_id", "?") if isinstance(data, Mapping) else "?"
        raise InvalidTurnState(f"turn {turn}: cannot decode stored state: {exc!r}") from exc
