"""The job part of ``somagent demo``: a small job through the running platform, its log
printed as it arrives.

Two turns run in parallel (each asks the turn engine a question it answers with the
``calc`` tool), an approval waits for both and is granted by the demo as soon as the log
shows it requested, and a final tool step runs after it. The job's Server-Sent Events
are printed raw, then each step's status and output.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from somagent.serve.exceptions import DemoError

DEMO_SPEC: dict[str, Any] = {
    "name": "demo: two parallel turns, an approval, a tool",
    "steps": [
        {"name": "price", "turn": {"text": "What is 17 * 23?", "allow": {"tools": ["calc"]}}},
        {"name": "share", "turn": {"text": "What is (1/3 + 1/6) * 3?",
                                   "allow": {"tools": ["calc"]}}},
        {"name": "signoff", "depends_on": ["price", "share"],
         "approval": {"prompt": "Publish the total?", "timeout_s": 300}},
        {"name": "total", "depends_on": ["signoff"],
         "tool": {"name": "calc", "arguments": {"expression": "17 * 23 + 3/2"}}},
    ],
}


def run_job_demo(client: httpx.Client, auth: dict[str, str]) -> dict[str, Any]:
    """Submit :data:`DEMO_SPEC`, grant its approval, print its log; return the job."""
    print(f"\n# POST /v1/jobs  {DEMO_SPEC['name']}")
    created = client.post("/v1/jobs", json={"spec": DEMO_SPEC}, headers=auth)
    if created.status_code != 201:
        print(created.text)
        raise DemoError(f"the job was refused with {created.status_code}")
    job_id = created.json()["job_id"]
    print(f"# {created.status_code} job {job_id}\n# GET /v1/jobs/{job_id}/logs")
    with client.stream("GET", f"/v1/jobs/{job_id}/logs", headers=auth) as log:
        for line in log.iter_lines():
            print(line, flush=True)
            if line.startswith("event: approval.requested"):
                granted = client.post(f"/v1/jobs/{job_id}/approvals/signoff",
                                      json={"decision": "approve", "comment": "demo"},
                                      headers=auth)
                print(f": the demo approves signoff -> {granted.status_code} {granted.text}")
    job = client.get(f"/v1/jobs/{job_id}", headers=auth).json()
    print(f"\n# job {job_id}: {job['status']}")
    for step in job["steps"]:
        output = json.dumps(step["output"], ensure_ascii=False)
        print(f"#   {step['name']:<8} {step['status']:<10} {step['duration_ms']} ms  {output}")
    if job["status"] != "completed":
        raise DemoError(f"the demo job ended {job['status']}: {job.get('failure')}")
    return dict(job)
