"""The job spec as typed, immutable values (pure: no I/O, no clock).

:func:`build_spec` turns a document that already passed :mod:`somagent.jobs.validate`
into a :class:`JobSpec`; it fills the defaults below and never fails on a valid
document. The workflow rebuilds the spec from the same document, so the document
(the JSON of ``JobSubmitted.spec_json``) is the one source of truth.

Defaults: a turn step may take ``DEFAULT_TURN_TIMEOUT_S`` per attempt, a tool step
``DEFAULT_TOOL_TIMEOUT_S``, an approval waits ``DEFAULT_APPROVAL_TIMEOUT_S`` and then
rejects; turn and tool steps and compensations get :data:`DEFAULT_RETRY`; a job's
turns may reserve ``DEFAULT_BUDGET_TOKENS`` tokens in all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

StepKind = Literal["turn", "tool", "approval", "job"]
MemoryMode = Literal["none", "read", "readwrite"]

DEFAULT_TURN_TIMEOUT_S: Final = 300.0
DEFAULT_TOOL_TIMEOUT_S: Final = 120.0
DEFAULT_APPROVAL_TIMEOUT_S: Final = 86_400.0
DEFAULT_COMPENSATE_TIMEOUT_S: Final = 120.0
DEFAULT_BUDGET_TOKENS: Final = 100_000


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_attempts`` attempts; the wait before attempt n+1 is
    ``min(initial_interval_s * backoff**(n-1), max_interval_s)``."""

    max_attempts: int = 3
    initial_interval_s: float = 1.0
    backoff: float = 2.0
    max_interval_s: float = 60.0


DEFAULT_RETRY: Final = RetryPolicy()
NO_RETRY: Final = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class TurnAction:
    text: str
    tools: tuple[str, ...] = ()
    memory: MemoryMode = "none"


@dataclass(frozen=True)
class ToolAction:
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApprovalAction:
    """``on_timeout``: what an unanswered approval becomes after ``timeout_s``."""

    prompt: str
    timeout_s: float
    on_timeout: Literal["reject", "approve"] = "reject"


@dataclass(frozen=True)
class SubJobAction:
    spec: JobSpec
    document: Mapping[str, Any]


Action = TurnAction | ToolAction | ApprovalAction | SubJobAction


@dataclass(frozen=True)
class Compensation:
    """What undoes a completed step (a turn or a tool call), with its own limits."""

    action: TurnAction | ToolAction
    timeout_s: float = DEFAULT_COMPENSATE_TIMEOUT_S
    retry: RetryPolicy = DEFAULT_RETRY


@dataclass(frozen=True)
class StepSpec:
    name: str
    kind: StepKind
    action: Action
    depends_on: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TOOL_TIMEOUT_S
    retry: RetryPolicy = DEFAULT_RETRY
    compensate: Compensation | None = None


@dataclass(frozen=True)
class JobSpec:
    steps: tuple[StepSpec, ...]
    name: str = ""
    budget_tokens: int = DEFAULT_BUDGET_TOKENS

    def step(self, name: str) -> StepSpec:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"job {self.name or '(unnamed)'} has no step {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)


def _retry(doc: Mapping[str, Any] | None, default: RetryPolicy) -> RetryPolicy:
    if not doc:
        return default
    return RetryPolicy(
        max_attempts=int(doc.get("max_attempts", default.max_attempts)),
        initial_interval_s=float(doc.get("initial_interval_s", default.initial_interval_s)),
        backoff=float(doc.get("backoff", default.backoff)),
        max_interval_s=float(doc.get("max_interval_s", default.max_interval_s)),
    )


def _turn(doc: Mapping[str, Any]) -> TurnAction:
    allow = doc.get("allow") or {}
    return TurnAction(
        text=str(doc["text"]),
        tools=tuple(str(t) for t in allow.get("tools") or ()),
        memory=allow.get("memory", "none"),
    )


def _tool(doc: Mapping[str, Any]) -> ToolAction:
    return ToolAction(tool=str(doc["name"]), arguments=dict(doc.get("arguments") or {}))


def _compensation(doc: Mapping[str, Any] | None) -> Compensation | None:
    if not doc:
        return None
    action: TurnAction | ToolAction = _turn(doc["turn"]) if "turn" in doc else _tool(doc["tool"])
    return Compensation(
        action=action,
        timeout_s=float(doc.get("timeout_s", DEFAULT_COMPENSATE_TIMEOUT_S)),
        retry=_retry(doc.get("retry"), DEFAULT_RETRY),
    )


def step_kind(doc: Mapping[str, Any]) -> StepKind:
    """Which of turn/tool/approval/job a (valid) step document is."""
    for kind in ("turn", "tool", "approval", "job"):
        if kind in doc:
            return kind  # type: ignore[return-value]
    raise KeyError(f"step {doc.get('name')!r} has none of turn, tool, approval, job")


def _step(doc: Mapping[str, Any]) -> StepSpec:
    kind = step_kind(doc)
    timeout = doc.get("timeout_s")
    action: Action
    retry = _retry(doc.get("retry"), DEFAULT_RETRY)
    if kind == "turn":
        action = _turn(doc["turn"])
        timeout_s = float(timeout or DEFAULT_TURN_TIMEOUT_S)
    elif kind == "tool":
        action = _tool(doc["tool"])
        timeout_s = float(timeout or DEFAULT_TOOL_TIMEOUT_S)
    elif kind == "approval":
        a = doc["approval"]
        timeout_s = float(a.get("timeout_s") or timeout or DEFAULT_APPROVAL_TIMEOUT_S)
        action = ApprovalAction(str(a.get("prompt", "")), timeout_s, a.get("on_timeout", "reject"))
        retry = NO_RETRY
    else:
        action = SubJobAction(build_spec(doc["job"]), doc["job"])
        timeout_s = float(timeout or 0.0)  # 0: the sub-job has no time limit of its own
        retry = NO_RETRY
    return StepSpec(
        name=str(doc["name"]),
        kind=kind,
        action=action,
        depends_on=tuple(str(d) for d in doc.get("depends_on") or ()),
        timeout_s=timeout_s,
        retry=retry,
        compensate=_compensation(doc.get("compensate")),
    )


def build_spec(doc: Mapping[str, Any]) -> JobSpec:
    """The typed spec of a valid spec document (see :mod:`somagent.jobs.validate`)."""
    budget = doc.get("budget") or {}
    return JobSpec(
        steps=tuple(_step(s) for s in doc["steps"]),
        name=str(doc.get("name", "")),
        budget_tokens=int(budget.get("tokens", DEFAULT_BUDGET_TOKENS)),
    )
