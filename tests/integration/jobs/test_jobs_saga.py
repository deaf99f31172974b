"""Approvals (wait, grant, reject, timeout, 409), cancel with SAGA compensation in reverse
completion order, and a compensation that keeps failing."""

from __future__ import annotations

from pathlib import Path

import pytest
from jobs_helpers import Caller, python_effect, step_events, types_of

pytestmark = pytest.mark.integration


def _calc(expression: str) -> dict[str, object]:
    return {"name": "calc", "arguments": {"expression": expression}}


def _undo(path: Path, tag: str) -> dict[str, object]:
    return {"tool": python_effect(path, tag), "retry": {"max_attempts": 1}}


async def test_approval_waits_then_grant_runs_the_rest(caller: Caller, effects_dir: Path) -> None:
    effects = effects_dir / "effects.log"
    job_id = await caller.start({"steps": [
        {"name": "prepare", "tool": _calc("6 * 7")},
        {"name": "review", "approval": {"prompt": "Ship it?"}, "depends_on": ["prepare"]},
        {"name": "ship", "tool": python_effect(effects, "shipped"), "depends_on": ["review"]},
    ]})
    job = await caller.wait_step(job_id, "review", "waiting")
    assert job["status"] == "running" and not effects.exists()
    review = next(s for s in job["steps"] if s["name"] == "review")
    assert review["approval"]["prompt"] == "Ship it?"
    # not waiting: a finished step, an unknown step
    r = await caller.decide(job_id, "prepare", "approve")
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/step-not-waiting")
    assert (await caller.decide(job_id, "nope", "approve")).status_code == 404
    r = await caller.decide(job_id, "review", "approve")
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "approved"
    assert r.json()["principal"] == f"session:{caller.session}"
    assert (await caller.decide(job_id, "review", "approve")).status_code == 409  # decided
    job = await caller.wait(job_id)
    assert job["status"] == "completed", job
    review = next(s for s in job["steps"] if s["name"] == "review")
    assert review["approval"]["decision"] == "approved"
    assert review["approval"]["principal"] == f"session:{caller.session}"
    assert effects.read_text() == "shipped\n"
    assert (await caller.decide(job_id, "review", "approve")).status_code == 409  # job ended


async def test_rejection_fails_the_job_and_compensates(caller: Caller, effects_dir: Path) -> None:
    undo = effects_dir / "undo.log"
    job_id = await caller.start({"steps": [
        {"name": "one", "tool": _calc("1"), "compensate": _undo(undo, "one")},
        {"name": "two", "tool": _calc("2"), "depends_on": ["one"],
         "compensate": _undo(undo, "two")},
        {"name": "gate", "approval": {}, "depends_on": ["two"]},
        {"name": "never", "tool": _calc("3"), "depends_on": ["gate"]},
    ]})
    await caller.wait_step(job_id, "gate", "waiting")
    assert (await caller.decide(job_id, "gate", "reject")).status_code == 200
    job = await caller.wait(job_id)
    assert job["status"] == "failed"
    assert job["failure"]["step"] == "gate" and job["failure"]["reason_code"] == "rejected"
    steps = {s["name"]: s for s in job["steps"]}
    assert steps["never"]["status"] == "pending"
    assert steps["one"]["status"] == steps["two"]["status"] == "compensated"
    assert undo.read_text() == "two\none\n"  # reverse completion order
    log = await caller.log(job_id)
    assert types_of(log)[-1] == "JobFailed"
    assert [m["data"]["payload"]["step"] for m in log
            if m["data"]["type"] == "JobCompensated"] == ["two", "one"]


async def test_cancel_compensates_in_reverse_completion_order(caller: Caller,
                                                              effects_dir: Path) -> None:
    undo = effects_dir / "undo.log"
    job_id = await caller.start({"steps": [
        {"name": "a", "tool": _calc("1"), "compensate": _undo(undo, "a")},
        {"name": "b", "tool": _calc("2"), "compensate": _undo(undo, "b")},
        {"name": "c", "tool": _calc("3"), "depends_on": ["a", "b"],
         "compensate": _undo(undo, "c")},
        {"name": "hold", "approval": {}, "depends_on": ["c"]},
    ]})
    job = await caller.wait_step(job_id, "hold", "waiting")
    order = sorted((s for s in job["steps"] if s["status"] == "completed"),
                   key=lambda s: s["ended_us"])
    completed = [s["name"] for s in order]
    assert completed[-1] == "c" and set(completed) == {"a", "b", "c"}
    r = await caller.http.post(f"/v1/jobs/{job_id}/cancel", json={"reason": "changed plans"},
                               headers=caller.auth)
    assert r.status_code == 202, r.text
    job = await caller.wait(job_id)
    assert job["status"] == "cancelled", job
    assert job["cancel"] == {"reason": "changed plans", "principal": f"session:{caller.session}"}
    assert undo.read_text().split() == list(reversed(completed))
    steps = {s["name"]: s for s in job["steps"]}
    assert steps["hold"]["status"] == "failed" and steps["hold"]["error"]["reason_code"] == \
        "cancelled"
    again = await caller.http.post(f"/v1/jobs/{job_id}/cancel", headers=caller.auth)
    assert again.status_code == 409 and again.json()["type"].endswith("/job-not-running")


async def test_a_failing_compensation_is_retried_then_fails_the_job(caller: Caller) -> None:
    job_id = await caller.start({"steps": [
        {"name": "book", "tool": _calc("1"),
         "compensate": {"tool": _calc("1/0"),
                        "retry": {"max_attempts": 3, "initial_interval_s": 0.1}}},
        {"name": "boom", "tool": _calc("2"), "depends_on": ["book"]},
        {"name": "gate", "approval": {"timeout_s": 0.5, "on_timeout": "reject"},
         "depends_on": ["boom"]},
    ]})
    job = await caller.wait(job_id)
    assert job["status"] == "failed", job
    assert job["failure"]["step"] == "book"
    assert job["failure"]["reason_code"] == "compensation-failed"
    assert job["failure"]["compensation_failed"] == ["book"]
    book = next(s for s in job["steps"] if s["name"] == "book")
    assert book["status"] == "compensation-failed" and book["compensation"]["attempts"] == 3
    gate = next(s for s in job["steps"] if s["name"] == "gate")
    assert gate["approval"]["by_timeout"] is True and gate["approval"]["principal"] == "timeout"
    log = await caller.log(job_id)
    assert len(step_events(log, "JobCompensated", "book")) == 1


async def test_approval_timeout_can_approve(caller: Caller) -> None:
    job_id = await caller.start({"steps": [
        {"name": "gate", "approval": {"timeout_s": 0.3, "on_timeout": "approve"}},
        {"name": "after", "tool": _calc("5"), "depends_on": ["gate"]},
    ]})
    job = await caller.wait(job_id)
    assert job["status"] == "completed"
    assert job["steps"][0]["approval"]["decision"] == "approved"
