"""A job's state folded from its events (pure): what GET /v1/jobs/{id} shows and what the
Postgres projection stores.

:func:`fold` applies one event; events at or below the view's ``last_seq`` (copies a
retried append left in the log) change nothing, so folding a log with duplicates gives
the same view as folding it without. The view is plain data: :meth:`JobView.to_dict` is
JSON, and :func:`from_dict` reads it back (the projector keeps it between batches).

Step statuses: ``pending`` → ``running`` (``waiting`` for approvals) → ``completed`` or
``failed``; a completed step whose compensation ran becomes ``compensated`` (or
``compensation-failed``). Job statuses: ``running`` → ``completed``, ``failed`` or
``cancelled``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from somagent.contract import names
from somagent.contract.envelope import plain

END_STATUS = {names.JOB_COMPLETED: "completed", names.JOB_FAILED: "failed",
              names.JOB_CANCELLED: "cancelled"}


def _us(value: Any) -> int:
    if isinstance(value, datetime):
        return int(plain(value))
    return int(value)


def _json(text: Any) -> Any:
    try:
        return json.loads(str(text))
    except ValueError:
        return text


@dataclass
class StepView:
    name: str
    kind: str = ""
    status: str = "pending"
    started_us: int | None = None
    ended_us: int | None = None
    duration_ms: int | None = None
    attempts: int = 0
    output: Any = None
    error: dict[str, str] | None = None
    turn_id: str | None = None
    child_job_id: str | None = None
    idempotency_key: str | None = None
    approval: dict[str, Any] | None = None
    compensation: dict[str, Any] | None = None


@dataclass
class JobView:
    job_id: str
    tenant: str
    session: str
    name: str = ""
    status: str = "running"
    submitted_us: int = 0
    updated_us: int = 0
    ended_us: int | None = None
    duration_ms: int | None = None
    submitted_by: str = ""
    parent_job_id: str | None = None
    spec_sha256: str = ""
    steps: dict[str, StepView] = field(default_factory=dict)
    failure: dict[str, Any] | None = None
    cancel: dict[str, Any] | None = None
    last_seq: int = -1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = [asdict(s) for s in self.steps.values()]
        return out

    @property
    def steps_completed(self) -> int:
        return sum(1 for s in self.steps.values() if s.status in ("completed", "compensated",
                                                                    "compensation-failed"))


def from_dict(data: dict[str, Any]) -> JobView:
    steps = {s["name"]: StepView(**s) for s in data.get("steps") or ()}
    return JobView(**{**data, "steps": steps})


def _step(view: JobView, p: dict[str, Any]) -> StepView:
    name = str(p["step"])
    if name not in view.steps:
        view.steps[name] = StepView(name)
    return view.steps[name]


def _submitted(event: dict[str, Any], ts: int) -> JobView:
    p = event["payload"]
    view = JobView(
        job_id=str(p["job_id"]), tenant=str(event["tenant"]), session=str(p["session_id"]),
        name=str(p.get("name") or ""), submitted_us=ts, updated_us=ts,
        submitted_by=str(p.get("submitted_by") or ""),
        parent_job_id=None if p.get("parent_job_id") is None else str(p["parent_job_id"]),
        spec_sha256=str(p.get("spec_sha256") or ""),
    )
    for name in p.get("steps") or ():
        view.steps[str(name)] = StepView(str(name))
    return view


def _apply(view: JobView, kind: str, p: dict[str, Any], ts: int) -> None:
    if kind == names.JOB_STEP_STARTED:
        s = _step(view, p)
        s.kind, s.started_us, s.attempts = str(p["kind"]), ts, max(s.attempts, 1)
        s.status = "waiting" if s.kind == "approval" else "running"
        s.turn_id = None if p.get("turn_id") is None else str(p["turn_id"])
        s.child_job_id = None if p.get("child_job_id") is None else str(p["child_job_id"])
        s.idempotency_key = p.get("idempotency_key")
    elif kind in (names.JOB_STEP_COMPLETED, names.JOB_STEP_FAILED):
        s = _step(view, p)
        s.kind = str(p.get("kind") or s.kind)
        s.ended_us, s.duration_ms = ts, int(p.get("duration_ms") or 0)
        s.attempts = int(p.get("attempts") or 1)
        if kind == names.JOB_STEP_COMPLETED:
            s.status, s.output = "completed", _json(p["output_json"])
            if s.kind == "turn" and isinstance(s.output, dict) and s.output.get("turn_id"):
                s.turn_id = str(s.output["turn_id"])  # a retried turn step ran a later turn
        else:
            s.status = "failed"
            s.error = {"reason_code": str(p["reason_code"]), "message": str(p["message"])}
    elif kind == names.JOB_APPROVAL_REQUESTED:
        s = _step(view, p)
        s.approval = {"prompt": p.get("prompt", ""), "timeout_ms": int(p["timeout_ms"]),
                      "on_timeout": p["on_timeout"], "deadline_us": _us(p["deadline"])}
    elif kind == names.JOB_APPROVAL_GIVEN:
        s = _step(view, p)
        s.approval = {**(s.approval or {}), "decision": p["decision"],
                      "principal": p["principal"], "comment": p.get("comment", ""),
                      "by_timeout": bool(p.get("by_timeout")), "decided_us": ts}
    elif kind == names.JOB_COMPENSATED:
        s = _step(view, p)
        ok = bool(p["ok"])
        s.status = "compensated" if ok else "compensation-failed"
        s.compensation = {"ok": ok, "trigger": p["trigger"], "order": int(p["order"]),
                          "output": _json(p.get("output_json", "null")),
                          "message": p.get("message", ""), "attempts": int(p.get("attempts", 1)),
                          "at_us": ts}
    elif kind in END_STATUS:
        view.status, view.ended_us = END_STATUS[kind], ts
        view.duration_ms = int(p.get("duration_ms") or 0)
        if kind == names.JOB_FAILED:
            view.failure = {"step": p["step"], "reason_code": p["reason_code"],
                            "message": p["message"],
                            "compensation_failed": list(p.get("compensation_failed") or ())}
        if kind == names.JOB_CANCELLED:
            view.cancel = {"reason": p.get("reason", ""), "principal": p["principal"]}


def fold(view: JobView | None, event: dict[str, Any]) -> JobView | None:
    """``view`` after ``event`` (None until the job's ``JobSubmitted``)."""
    kind = str(event["type"])
    if kind not in names.JOB_EVENTS:
        return view
    ts, seq = _us(event["ts"]), int(event["seq"])
    if view is None:
        if kind != names.JOB_SUBMITTED:
            return None  # the job's start is not in what was read
        view = _submitted(event, ts)
        view.last_seq = seq
        return view
    if seq <= view.last_seq:
        return view  # already applied (a copy in the log)
    view.last_seq, view.updated_us = seq, max(view.updated_us, ts)
    _apply(view, kind, plain(event["payload"]), ts)
    return view
