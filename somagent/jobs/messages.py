"""What crosses the Temporal boundary: workflow input, activity arguments, update requests.

Plain dataclasses of JSON types (the SDK's default converter serialises them), shared by
the workflow, its activities and the clients that start and steer jobs. Field names are
part of the stored workflow histories: add fields only with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

WORKFLOW: Final = "somagent.Job"
EMIT: Final = "job.emit"
TOOL: Final = "job.tool"
TURN: Final = "job.turn"
UPDATE_DECIDE: Final = "decide"
UPDATE_CANCEL: Final = "cancel"
QUERY_STATE: Final = "state"

# ApplicationError types an update validator raises; the edge maps them to problems.
NO_SUCH_STEP: Final = "no-such-step"
NOT_WAITING: Final = "not-waiting"
NOT_RUNNING: Final = "not-running"


def workflow_id(job_id: str) -> str:
    """The Temporal workflow id of a job: starting it twice is refused by the server."""
    return f"job-{job_id}"


@dataclass
class JobInput:
    """A job to run. ``first_seq`` is the seq of the workflow's first event: 1 when the
    edge appended ``JobSubmitted`` (seq 0) itself, 0 for a sub-job, whose workflow
    appends its own ``JobSubmitted``."""

    job_id: str
    tenant: str
    trace_id: str
    spec: dict[str, Any]
    submitted_us: int
    submitted_by: str
    first_seq: int = 1
    parent_job_id: str | None = None
    parent_step: str | None = None
    idempotency_key: str | None = None


@dataclass
class TurnCall:
    """A turn step or turn compensation: append ``TurnRequested``, await ``TurnCompleted``."""

    job_id: str
    tenant: str
    trace_id: str
    purpose: str  # "step" or "compensate"
    step: str
    text: str
    tools: list[str] = field(default_factory=list)
    memory: str = "none"
    deadline_ms: int = 300_000
    budget_tokens: int = 0


@dataclass
class ToolCallArgs:
    """A tool step or tool compensation through the tool broker."""

    job_id: str
    tenant: str
    trace_id: str
    purpose: str
    step: str
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    timeout_ms: int = 120_000


@dataclass
class ApprovalDecision:
    step: str
    approve: bool
    principal: str
    comment: str = ""


@dataclass
class CancelRequest:
    reason: str
    principal: str
