"""The jobs API's guards: bad specs (422, nothing started), Idempotency-Key, tenancy,
sub-jobs, the plan endpoint, Last-Event-ID resume."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from jobs_helpers import Caller, new_caller, types_of

from somagent.config import Settings
from somagent.events.catalog import JOBS
from somagent.jobs.temporal import connect
from somagent.kafka.admin import end_offsets, partitions_of
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration
ROADMAP = (Path(__file__).parents[2] / "unit" / "jobs" / "ROADMAP.md").read_text()


def _calc(expression: str) -> dict[str, object]:
    return {"name": "calc", "arguments": {"expression": expression}}


def _jobs_log_end(settings: Settings) -> int:
    return sum(end_offsets(settings, partitions_of(settings, [JOBS])).values())


async def _workflows(settings: Settings) -> int:
    client = await connect(settings)
    return int((await client.count_workflows()).count)


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"steps": [{"name": "a", "turn": {"text": "x"}, "depends_on": ["b"]},
                {"name": "b", "turn": {"text": "y"}, "depends_on": ["a"]}]},
     "/spec/steps", "steps a, b form a cycle: a → b → a"),
    ({"steps": [{"name": "a", "tool": _calc("1"), "depends_on": ["ghost"]}]},
     "/spec/steps/0/depends_on/0", "step 'a' depends on unknown step 'ghost'"),
    ({"steps": [{"name": "a"}]}, "/spec/steps/0", "must have exactly one of"),
    ({"steps": [{"turn": {"text": "x"}}]}, "/spec/steps/0", "'name' is a required property"),
    ({"steps": [{"name": "a", "turn": {}}]}, "/spec/steps/0/turn",
     "'text' is a required property"),
    ({"steps": [{"name": "a", "tool": {"name": "rm-rf", "arguments": {}}}]},
     "/spec/steps/0/tool/name", "unknown tool 'rm-rf'"),
    ({}, "/spec", "'steps' is a required property"),
]


@pytest.mark.parametrize(("spec", "pointer", "message"), BAD)
async def test_bad_specs_are_422_and_start_nothing(
    stack: RunningStack, caller: Caller, spec: dict[str, Any], pointer: str, message: str
) -> None:
    before_log, before_wf = _jobs_log_end(stack.settings), await _workflows(stack.settings)
    r = await caller.submit(spec)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "https://somagent.dev/problems/invalid-job-spec"
    assert any(e["pointer"] == pointer and message in e["message"] for e in body["errors"]), body
    assert _jobs_log_end(stack.settings) == before_log
    assert await _workflows(stack.settings) == before_wf


async def test_malformed_bodies(caller: Caller) -> None:
    r = await caller.http.post("/v1/jobs", content=b"{", headers={
        **caller.auth, "content-type": "application/json"})
    assert r.status_code == 400
    r = await caller.http.post("/v1/jobs", json={"steps": []}, headers=caller.auth)
    assert r.status_code == 422  # the spec goes under "spec"
    assert (await caller.http.post("/v1/jobs", json={"spec": {}})).status_code == 401


async def test_idempotent_resubmission_returns_the_same_job(caller: Caller) -> None:
    spec = {"steps": [{"name": "a", "tool": _calc("40 + 2")}]}
    key = f"job-{uuid.uuid4()}"
    first, second = await asyncio.gather(caller.submit(spec, **{"Idempotency-Key": key}),
                                         caller.submit(spec, **{"Idempotency-Key": key}))
    codes = sorted([first.status_code, second.status_code])
    assert codes == [200, 201], (first.text, second.text)
    assert first.json()["job_id"] == second.json()["job_id"]
    job_id = first.json()["job_id"]
    third = await caller.submit(spec, **{"Idempotency-Key": key})
    assert third.status_code == 200 and third.headers["idempotent-replayed"] == "true"
    other = await caller.submit({"steps": [{"name": "b", "tool": _calc("1")}]},
                                **{"Idempotency-Key": key})
    assert other.status_code == 409
    job = await caller.wait(job_id)
    assert job["status"] == "completed"
    assert types_of(await caller.log(job_id)).count("JobSubmitted") == 1


async def test_another_tenants_job_is_404(stack: RunningStack, caller: Caller) -> None:
    job_id = await caller.start({"steps": [{"name": "gate", "approval": {"timeout_s": 60}}]})
    other = await new_caller(stack.settings, caller.http)
    for method, path, body in (
        ("GET", f"/v1/jobs/{job_id}", None), ("GET", f"/v1/jobs/{job_id}/logs", None),
        ("POST", f"/v1/jobs/{job_id}/approvals/gate", {"decision": "approve"}),
        ("POST", f"/v1/jobs/{job_id}/cancel", {}),
    ):
        r = await caller.http.request(method, path, json=body, headers=other.auth)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["type"].endswith("/job-not-found")
    missing = await caller.http.get(f"/v1/jobs/{uuid.uuid4()}", headers=caller.auth)
    assert missing.status_code == 404
    assert (await caller.http.post(f"/v1/jobs/{job_id}/cancel", headers=caller.auth)
            ).status_code == 202
    assert (await caller.wait(job_id))["status"] == "cancelled"


async def test_sub_jobs_run_as_their_own_jobs(caller: Caller) -> None:
    job_id = await caller.start({"steps": [
        {"name": "first", "tool": _calc("2 * 3")},
        {"name": "child", "depends_on": ["first"], "job": {"name": "inner", "steps": [
            {"name": "x", "tool": _calc("7")},
            {"name": "y", "tool": _calc("8"), "depends_on": ["x"]}]}},
    ]})
    job = await caller.wait(job_id)
    assert job["status"] == "completed", job
    child = next(s for s in job["steps"] if s["name"] == "child")
    assert child["output"]["status"] == "completed" and child["child_job_id"]
    assert child["output"]["outputs"]["y"]["value"] == "8"


async def test_log_resumes_after_last_event_id(caller: Caller) -> None:
    job_id = await caller.start({"steps": [{"name": "a", "tool": _calc("1")},
                                           {"name": "b", "tool": _calc("2"),
                                            "depends_on": ["a"]}]})
    await caller.wait(job_id)
    full = await caller.log(job_id)
    rest = await caller.log(job_id, last_event_id=full[2]["id"])
    assert [m["id"] for m in rest] == [m["id"] for m in full[3:]]
    elsewhere = "1-0" if full[0]["id"].startswith("0-") else "0-0"
    r = await caller.http.get(f"/v1/jobs/{job_id}/logs",
                              headers={**caller.auth, "Last-Event-ID": elsewhere})
    assert r.status_code == 400 and r.json()["type"].endswith("/bad-last-event-id")


async def test_plan_endpoint_turns_a_roadmap_into_a_valid_job(caller: Caller) -> None:
    r = await caller.http.post("/v1/jobs/plan", json={"roadmap": ROADMAP},
                               headers=caller.auth)
    assert r.status_code == 200, r.text
    spec = r.json()["spec"]
    assert r.json()["steps"] == 14 and spec["steps"][-1]["name"] == "gate-p3"
    bad = await caller.http.post("/v1/jobs/plan", json={"roadmap": "no phases here"},
                                 headers=caller.auth)
    assert bad.status_code == 422 and bad.json()["type"].endswith("/invalid-roadmap")


async def test_a_turn_step_over_the_job_budget_fails_for_good(caller: Caller) -> None:
    job_id = await caller.start({"budget": {"tokens": 100}, "steps": [
        {"name": "ask", "turn": {"text": "What is 1 + 1?"}}]})
    job = await caller.wait(job_id)
    assert job["status"] == "failed", job
    assert job["failure"]["reason_code"] == "budget-exhausted"
    step = job["steps"][0]
    assert step["attempts"] == 1 and "tokens left" in step["error"]["message"]
