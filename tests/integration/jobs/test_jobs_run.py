"""Jobs on the real Temporal server: DAG order and parallelism, outputs, the log."""

from __future__ import annotations

import pytest
import redis
from jobs_helpers import Caller, step_events, types_of

from somagent.stack.stack import RunningStack

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


async def test_a_throttled_tool_step_waits_for_room_in_the_window(stack: RunningStack,
                                                                  caller: Caller) -> None:
    """The tenant's calc window (60 calls a minute) is full for the next ~5 s: the step
    waits for room instead of failing, within its own time limit."""
    client = redis.Redis.from_url(stack.settings.redis_dsn)
    try:
        seconds, micros = client.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        key = f"rate:{caller.tenant}:calc"
        client.zadd(key, {f"filler-{i}": now_ms - 55_000 for i in range(60)})
        client.pexpire(key, 60_000)
        job_id = await caller.start({"steps": [
            {"name": "a", "tool": _calc("3 * 3"), "timeout_s": 30,
             "retry": {"max_attempts": 1}}]})
        job = await caller.wait(job_id)
    finally:
        client.close()
    assert job["status"] == "completed", job
    assert job["steps"][0]["output"]["value"] == "9" and job["steps"][0]["attempts"] == 1
