"""Folding a job's events into its view; job event ids; outputs in events."""

from __future__ import annotations

import json
from typing import Any

from somagent.contract import names
from somagent.jobs import events as ev
from somagent.jobs.lineage import job_tree
from somagent.jobs.view import fold, from_dict

JOB = "5f0c7c57-6a47-4f55-9a77-0f4f5f1c1d2e"
TENANT = "0d6f0f8e-2c1a-4b8e-9a52-3c7f9f1b2a44"
REF = ev.JobRef(JOB, TENANT, "4bf92f3577b34da6a3ce929d0e0e4736")


def _events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(event_type: str, /, **payload: Any) -> None:
        out.append(ev.job_event(REF, event_type, len(out), 1_000_000 * (len(out) + 1), **payload))

    add(names.JOB_SUBMITTED, name="n", spec_json="{}", spec_sha256="x", session_id=REF.session,
        submitted_by="session:s", steps=["a", "gate", "b"], budget_tokens=10,
        idempotency_key=None, parent_job_id=None, parent_step=None, workflow_id="w")
    add(names.JOB_STEP_STARTED, step="a", kind="tool", turn_id=None, child_job_id=None,
        idempotency_key="k", timeout_ms=1000, max_attempts=3)
    add(names.JOB_STEP_COMPLETED, step="a", kind="tool", output_json='{"value": "2"}',
        duration_ms=5, attempts=2)
    add(names.JOB_STEP_STARTED, step="gate", kind="approval", turn_id=None, child_job_id=None,
        idempotency_key=None, timeout_ms=60_000, max_attempts=1)
    add(names.JOB_APPROVAL_REQUESTED, step="gate", prompt="ok?", timeout_ms=60_000,
        on_timeout="reject", deadline=99_000_000)
    add(names.JOB_APPROVAL_GIVEN, step="gate", decision="rejected", principal="session:s",
        comment="no", by_timeout=False)
    add(names.JOB_STEP_FAILED, step="gate", kind="approval", reason_code="rejected",
        message="no", duration_ms=3, attempts=1)
    add(names.JOB_COMPENSATED, step="a", ok=True, trigger="failure", order=0,
        output_json='{"value": "0"}', message="", attempts=1)
    add(names.JOB_FAILED, step="gate", reason_code="rejected", message="no",
        compensated=["a"], compensation_failed=[], duration_ms=8_000)
    return out


def test_fold_follows_the_job_to_its_end() -> None:
    view = None
    for e in _events():
        view = fold(view, e)
    assert view is not None
    assert (view.status, view.failure and view.failure["step"]) == ("failed", "gate")
    a, gate, b = view.steps.values()
    assert (a.status, a.output, a.attempts, a.compensation["ok"]) == (  # type: ignore[index]
        "compensated", {"value": "2"}, 2, True)
    assert gate.status == "failed" and gate.approval is not None
    assert gate.approval["decision"] == "rejected" and gate.approval["principal"] == "session:s"
    assert b.status == "pending" and view.last_seq == 8 and view.duration_ms == 8_000


def test_copies_and_out_of_scope_events_change_nothing() -> None:
    events = _events()
    once, twice = None, None
    for e in events:
        once = fold(once, e)
    for e in [events[0], *[x for one in events[1:] for x in (one, one)]]:
        twice = fold(twice, e)
    assert once is not None and twice is not None and once.to_dict() == twice.to_dict()
    assert fold(None, events[1]) is None  # no JobSubmitted read yet


def test_view_round_trips_through_json() -> None:
    view = None
    for e in _events()[:5]:
        view = fold(view, e)
    assert view is not None
    again = from_dict(json.loads(json.dumps(view.to_dict())))
    assert again.to_dict() == view.to_dict()
    for e in _events()[5:]:
        view, again = fold(view, e), fold(again, e)
    assert view is not None and again is not None and again.to_dict() == view.to_dict()


def test_ids_are_stable_and_distinct() -> None:
    assert ev.job_event_id(JOB, 3) == ev.job_event_id(JOB.upper(), 3)
    assert ev.job_event_id(JOB, 3) != ev.job_event_id(JOB, 4)
    assert ev.turn_id(JOB, "step", "a", 0) != ev.turn_id(JOB, "step", "a", 1)
    assert ev.turn_id(JOB, "step", "a", 0) != ev.turn_id(JOB, "compensate", "a", 0)
    assert ev.tool_idem_key(JOB, "step", "a") == ev.tool_idem_key(JOB, "step", "a")
    assert ev.child_job_id(JOB, "x") != ev.child_job_id(JOB, "y")
    assert ev.job_session(JOB) != JOB


def test_big_outputs_are_summarised() -> None:
    small = ev.output_json({"a": 1})
    assert small == '{"a":1}'
    big = json.loads(ev.output_json({"text": "x" * 100_000}))
    assert big["truncated"] is True and big["size_bytes"] > ev.MAX_OUTPUT_BYTES
    assert len(big["sha256"]) == 64


def test_job_tree_names_every_sub_job() -> None:
    spec = {"steps": [{"name": "a", "job": {"steps": [{"name": "b", "job": {"steps": []}}]}},
                      {"name": "c", "approval": {}}]}
    child = ev.child_job_id(JOB, "a")
    assert job_tree(JOB, spec) == [JOB, child, ev.child_job_id(child, "b")]
