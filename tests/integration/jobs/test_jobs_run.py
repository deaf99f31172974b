"""Jobs on the real Temporal server: DAG order and parallelism, outputs, the log."""

from __future__ import annotations

import pytest
from jobs_helpers import Caller, step_events, types_of

pytestmark = pytest.mark.integration


def _calc(expression: str) -> dict[str, object]:
    return {"name": "calc", "arguments": {"expression": expression}}


async def test_dag_runs_in_order_with_parallel_branches(caller: Caller) -> None:
    spec = {"name": "diamond", "steps": [
        {"name": "a", "tool": _calc("1 + 1")},
        {"name": "b", "turn": {"text": "What is 2 + 3?", "allow": {"tools": ["calc"]}},
         "depends_on": ["a"]},
        {"name": "c", "turn": {"text": "What is 4 * 5?", "allow": {"tools": ["calc"]}},
         "depends_on": ["a"]},
        {"name": "d", "tool": _calc("(2 + 3) * 4"), "depends_on": ["b", "c"]},
    ]}
    job_id = await caller.start(spec)
    job = await caller.wait(job_id)
    assert job["status"] == "completed", job
    steps = {s["name"]: s for s in job["steps"]}
    assert steps["a"]["output"]["value"] == "2"
    assert "5" in steps["b"]["output"]["text"] and "20" in steps["c"]["output"]["text"]
    assert steps["d"]["output"]["value"] == "20"
    log = await caller.log(job_id)
    kinds = types_of(log)
    assert kinds[0] == "JobSubmitted" and kinds[-1] == "JobCompleted"
    seqs = [m["data"]["seq"] for m in log]
    assert seqs == list(range(len(log)))  # every event once, in seq order
    pos = {(m["data"]["type"], m["data"]["payload"].get("step")): i for i, m in enumerate(log)}
    # b and c both started before either completed: parallel branches
    assert max(pos[("JobStepStarted", "b")], pos[("JobStepStarted", "c")]) < min(
        pos[("JobStepCompleted", "b")], pos[("JobStepCompleted", "c")])
    # order: a before b, c; d after both
    assert pos[("JobStepCompleted", "a")] < pos[("JobStepStarted", "b")]
    assert pos[("JobStepStarted", "d")] > max(pos[("JobStepCompleted", "b")],
                                             pos[("JobStepCompleted", "c")])
    for step in "abcd":
        assert len(step_events(log, "JobStepCompleted", step)) == 1
