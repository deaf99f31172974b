"""The turn engine end to end: a real Faust worker subprocess on the real stack.

Turns are requested by appending ``TurnRequested`` to ``conversation.events``
(what the edge does) and read back from the log.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from engine_helpers import Client, WorkerProcess, wait_for_worker

from somagent.wait import until

pytestmark = pytest.mark.integration


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_every_step_appends_its_event_in_order(worker: WorkerProcess, client: Client) -> None:
    handle = client.request("What is (1/3 + 1/6) * 3?", tools=("calc",))
    events = client.events(handle)
    assert types(events) == [
        "TurnRecalled",
        "TurnPlanned",
        "ToolCallRequested",
        "ToolCallCompleted",
        "TurnVerified",
        "TurnAnswered",
        "TurnCompleted",
    ]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    answer = events[5]["payload"]
    assert "3/2" in answer["text"]
    assert all(c.startswith("tool:") for c in answer["citations"])
    assert {str(e["session"]) for e in events} == {handle.session_id}


def test_a_tool_call_streams_deltas_as_it_runs(worker: WorkerProcess, client: Client) -> None:
    code = (
        "import sys, time\nfor i in range(3):\n"
        "    print('line', i, flush=True)\n    time.sleep(0.2)"
    )
    handle = client.request(f"Run this:\n```python\n{code}\n```", tools=("python",))
    events = client.events(handle)
    deltas = [e for e in events if e["type"] == "ToolCallDelta"]
    assert len(deltas) >= 2, types(events)
    assert "line 0" in "".join(d["payload"]["chunk"] for d in deltas)
    completed = next(e for e in events if e["type"] == "ToolCallCompleted")
    assert events.index(deltas[0]) < events.index(completed)


def test_bad_tool_arguments_fail_the_call_not_the_turn(
    worker: WorkerProcess, client: Client
) -> None:
    code = "x = 1\n" + "#" * 21_000  # over the python tool's 20,000-character argument limit
    handle = client.request(f"```python\n{code}\n```", tools=("python",))
    events = client.events(handle)
    failed = next(e for e in events if e["type"] == "ToolCallFailed")
    assert failed["payload"]["reason_code"] == "invalid-arguments"
    assert "TurnAnswered" in types(events) and "TurnFailed" not in types(events)


def test_a_denied_tool_is_audited_and_the_turn_goes_on(
    worker: WorkerProcess, client: Client
) -> None:
    handle = client.request("What is 2 * 21?", tools=("calc", "shell"))
    events = client.events(handle)
    assert "TurnCompleted" in types(events) and "TurnFailed" not in types(events)
    assert "42" in next(e for e in events if e["type"] == "TurnAnswered")["payload"]["text"]
    audit = client.events_on("gateway.audit", handle, until_type="PolicyDenied")
    denied = [e for e in audit if e["type"] == "PolicyDenied"]
    assert denied and "shell" in json.dumps(denied[0]["payload"])


def test_a_tool_past_its_time_limit_ends_cleanly(worker: WorkerProcess, client: Client) -> None:
    handle = client.request("```python\nwhile True:\n    pass\n```", tools=("python",))
    events = client.events(handle, timeout_s=90)
    failed = next(e for e in events if e["type"] == "ToolCallFailed")
    assert failed["payload"]["reason_code"] in {"timeout", "cpu-limit"}
    assert types(events)[-1] == "TurnCompleted"


def test_a_crashing_tool_ends_cleanly(worker: WorkerProcess, client: Client) -> None:
    handle = client.request("```python\nimport os\nos._exit(3)\n```", tools=("python",))
    events = client.events(handle)
    failed = next(e for e in events if e["type"] == "ToolCallFailed")
    assert failed["payload"]["reason_code"] == "crashed"
    assert types(events)[-1] == "TurnCompleted"


def test_turn_deadline_fails_the_turn(worker: WorkerProcess, client: Client) -> None:
    handle = client.request(
        "```python\nimport time\ntime.sleep(8)\n```", tools=("python",), deadline_ms=1_500
    )
    events = client.events(handle, timeout_s=60)
    failed = next(e for e in events if e["type"] == "TurnFailed")
    assert failed["payload"]["reason_code"] in {"deadline_exceeded", "step_timeout"}
    assert types(events)[-1] == "TurnCompleted"


def test_cancel_ends_a_running_turn(worker: WorkerProcess, client: Client) -> None:
    handle = client.request(
        "```python\nimport time\nprint('started', flush=True)\ntime.sleep(20)\n```",
        tools=("python",),
    )
    client.events(handle, until_type="ToolCallDelta")
    client.cancel(handle)
    events = client.events(handle, timeout_s=30)
    failed = next(e for e in events if e["type"] == "TurnFailed")
    assert failed["payload"]["reason_code"] == "cancelled"


def test_recall_finds_what_was_remembered_and_never_another_tenants(
    worker: WorkerProcess, client: Client
) -> None:
    tenant_a, tenant_b = str(uuid.uuid4()), str(uuid.uuid4())
    fact = f"The vault code of project {uuid.uuid4().hex[:8]} is orange"
    first = client.request(
        f"Note: {fact}. What is 1 + 1?", tools=("calc",), memory="readwrite", tenant=tenant_a
    )
    assert "TurnCompleted" in types(client.events(first))
    client.events_on("memory.events", first, until_type="MemoryRemembered")

    def recalled(tenant: str) -> list[str]:
        handle = client.request("vault code project orange", memory="read", tenant=tenant)
        recall = next(e for e in client.events(handle) if e["type"] == "TurnRecalled")
        return [b["text"] for b in recall["payload"]["evidence"]]

    # Eventually: recall right after MemoryRemembered missed the fact in 2 runs out of 3
    # on a loaded machine (a read-after-write gap in the gateway, noted as open).
    until(lambda: any(fact in text for text in recalled(tenant_a)), timeout_s=30,
          what="the remembered fact recalled", interval_s=0.5)
    assert not any(fact in text for text in recalled(tenant_b))


def test_usage_is_metered_for_tokens_and_tool_calls(worker: WorkerProcess, client: Client) -> None:
    handle = client.request("What is 6 * 7?", tools=("calc",))
    client.events(handle)
    usage = client.events_on("billing.usage", handle, until_type="UsageRecorded", count=2)
    agents = {e["payload"]["agent"] for e in usage}
    assert "tool:calc" in agents
    assert sum(e["payload"]["tokens"] for e in usage) > 0 or "planner" not in agents


def test_sigkill_mid_turn_resumes_and_the_side_effect_runs_once(
    worker: WorkerProcess, client: Client
) -> None:
    marker = worker.home / "effects" / f"{uuid.uuid4().hex}.log"  # the sandbox's writable dir
    code = (
        f"open({str(marker)!r}, 'a').write('row\\n')\n"
        "print('wrote', flush=True)\nimport time\ntime.sleep(4)\nprint('done', flush=True)"
    )
    handle = client.request(f"```python\n{code}\n```", tools=("python",), deadline_ms=180_000)
    client.events(handle, until_type="ToolCallDelta")
    assert marker.read_text() == "row\n"
    worker.kill()
    worker.start()
    events = client.events(handle, timeout_s=150)
    assert types(events)[-1] == "TurnCompleted"
    assert "TurnFailed" not in types(events)
    assert marker.read_text() == "row\n", "the side-effecting tool ran twice"
    wait_for_worker(client, worker)


def test_a_second_request_with_the_same_key_runs_nothing(
    worker: WorkerProcess, client: Client
) -> None:
    """Issue #19 item 1, engine side: two TurnRequested with one Idempotency-Key (an edge
    that lost track of an append) are one turn; the second fails, naming the first."""
    tenant, key = str(uuid.uuid4()), f"k-{uuid.uuid4()}"
    first = client.request("What is 3 * 4?", tools=("calc",), tenant=tenant, idempotency_key=key)
    assert [e["type"] for e in client.events(first)][-1] == "TurnCompleted"
    second = client.request("What is 3 * 4?", tools=("calc",), tenant=tenant,
                            idempotency_key=key)
    events = client.events(second)
    assert [e["type"] for e in events] == ["TurnFailed", "TurnCompleted"]
    assert events[0]["payload"]["reason_code"] == "duplicate_request"
    assert first.turn_id in events[0]["payload"]["message"]
    other = client.request("What is 3 * 4?", tools=("calc",), tenant=str(uuid.uuid4()),
                           idempotency_key=key)  # the key is the tenant's: others may use it
    assert "TurnAnswered" in [e["type"] for e in client.events(other)]

