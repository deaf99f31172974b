"""Issue 19, engine side: hostile input, one tenant's failures, the sql tool and the
session's tool rate, on a real worker subprocess over the real stack (items 3, 4, 5, 8).

Nothing here asserts a duration: a normal turn asserts that it *completes* (with a
deadline a stalled loop would miss), a hostile one that it *ends* within its own
deadline (the contract ``TurnCompleted.duration_ms`` is measured against).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest
from engine_helpers import Client, TurnHandle, WorkerProcess, grant_default_policy

from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.events.envelope import make_event

pytestmark = pytest.mark.integration


def request(
    client: Client,
    text: str,
    *,
    tools: tuple[str, ...],
    tenant: str | None = None,
    deadline_ms: int = 60_000,
    tools_per_min: int | None = None,
) -> TurnHandle:
    """Append a ``TurnRequested`` as the edge writes it, with the session's tool rate."""
    turn, session, tenant = str(uuid.uuid4()), str(uuid.uuid4()), tenant or str(uuid.uuid4())
    grant_default_policy(client.settings, session)
    event = make_event(
        "TurnRequested",
        {
            "turn_id": turn,
            "session_id": session,
            "text": text,
            "allow_tools": list(tools),
            "memory_mode": "none",
            "idempotency_key": None,
            "deadline_ms": deadline_ms,
            "capsule_ids": [],
            "tools_per_min": tools_per_min,
        },
        tenant=tenant,
        producer="test",
        session=session,
        turn=turn,
    )
    where: list[tuple[int, int]] = []
    client.producer.send(event, on_delivery=lambda e, m: where.append((m.partition(), m.offset())))
    client.producer.flush()
    return TurnHandle(turn, session, tenant, where[0][0], where[0][1], str(event["trace_id"]))


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def answer(events: list[dict[str, Any]]) -> str:
    return str(of_type(events, "TurnAnswered")[0]["payload"]["text"])


def test_a_hostile_input_ends_and_another_tenants_turn_completes(
    worker: WorkerProcess, client: Client
) -> None:
    """Item 3: ``"(" * 32765 + "1+1"`` took 56 s on the shared loop and stalled a
    concurrent turn of another tenant as long."""
    hostile = request(client, "(" * 32_765 + "1+1", tools=("calc",), deadline_ms=30_000)
    normal = request(client, "What is 2*3?", tools=("calc",), deadline_ms=15_000)
    events = client.events(normal, timeout_s=60)
    assert not of_type(events, "TurnFailed"), events
    assert "2*3 = 6" in answer(events)
    hostile_events = client.events(hostile, timeout_s=60)
    failed = of_type(hostile_events, "TurnFailed")
    if failed:
        assert failed[0]["payload"]["reason_code"] == "step_timeout", failed
    else:
        assert "1+1 = 2" in answer(hostile_events)
    completed = of_type(hostile_events, "TurnCompleted")[0]
    assert completed["payload"]["duration_ms"] <= 30_000


def test_one_tenants_crashing_programs_leave_python_to_everyone(
    worker: WorkerProcess, client: Client
) -> None:
    """Item 4: five ``sys.exit(3)`` snippets opened the breaker for every tenant."""
    attacker, other = str(uuid.uuid4()), str(uuid.uuid4())
    crash = "```python\nimport sys\nsys.exit(3)\n```"
    handles = [request(client, crash, tools=("python",), tenant=attacker) for _ in range(7)]
    for handle in handles:
        failed = of_type(client.events(handle, timeout_s=90), "ToolCallFailed")
        assert [f["payload"]["reason_code"] for f in failed] == ["crashed"], failed
    fine = request(client, "```python\nprint(6 * 7)\n```", tools=("python",), tenant=other)
    assert "42" in answer(client.events(fine))
    again = request(client, "```python\nprint('mine')\n```", tools=("python",), tenant=attacker)
    events = client.events(again)
    assert of_type(events, "ToolCallCompleted") and not of_type(events, "ToolCallFailed")


def test_the_sql_tool_answers_on_the_embedded_engine(
    worker: WorkerProcess, client: Client
) -> None:
    """Item 5: every query failed with NO_COMMON_TYPE (tenant String vs a UUID parameter)."""
    handle = request(client, "```sql\nSELECT count() AS n FROM events\n```", tools=("sql",))
    events = client.events(handle)
    assert not of_type(events, "ToolCallFailed"), events
    result = json.loads(of_type(events, "ToolCallCompleted")[0]["payload"]["result_json"])
    assert result["rows"] == [{"n": 0}] and result["columns"] == ["n"]
    bad = request(client, "```sql\nSELECT nope FROM events\n```", tools=("sql",))
    failed = of_type(client.events(bad), "ToolCallFailed")[0]["payload"]
    assert failed["reason_code"] == "query-failed" and "UNKNOWN_IDENTIFIER" in failed["message"]


async def _tenant(settings: Settings, plan: str) -> str:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        tenant, _ = await create_tenant(conn, f"engine-{plan}-{uuid.uuid4().hex[:6]}", plan)
        return tenant.tenant_id
    finally:
        await conn.close()


def _calc_codes(client: Client, handles: list[TurnHandle]) -> list[str]:
    codes = []
    for handle in handles:
        for e in client.events(handle, timeout_s=90):
            if e["type"] == "ToolCallCompleted":
                codes.append("ok")
            elif e["type"] == "ToolCallFailed":
                codes.append(str(e["payload"]["reason_code"]))
    return codes


def test_the_sessions_tool_rate_is_honoured(
    worker: WorkerProcess, client: Client, settings: Settings
) -> None:
    """Item 8: a session minted with 100,000 calls a minute had calls refused at 60."""
    four = "What are 1+1, 2+2, 3+3 and 4+4?"  # four calc calls per turn
    enterprise = asyncio.run(_tenant(settings, "enterprise"))
    handles = [
        request(client, four, tools=("calc",), tenant=enterprise, tools_per_min=100_000)
        for _ in range(18)
    ]
    codes = _calc_codes(client, handles)
    assert codes == ["ok"] * 72, codes
    small = asyncio.run(_tenant(settings, "enterprise"))
    limited = request(client, four, tools=("calc",), tenant=small, tools_per_min=3)
    assert sorted(_calc_codes(client, [limited])) == ["ok", "ok", "ok", "rate-limit"]


def test_a_snippet_reaches_neither_the_stack_nor_its_keys(
    worker: WorkerProcess, client: Client, settings: Settings
) -> None:
    """Item 10: the worker's python tool runs snippets with no network, without the
    platform's data directory and in a pid namespace of their own."""
    ports = {"redis": settings.redis_port, "postgres": settings.postgres_port,
             "kafka": settings.kafka_port, "analytics": settings.clickhouse_http_port}
    key = settings.home_dir / "keys" / "service.token"
    assert key.is_file()
    code = (
        "import json, os, socket\n"
        "out = {}\n"
        f"for name, port in {ports!r}.items():\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', port), timeout=2).close()\n"
        "        out[name] = 'reached'\n"
        "    except OSError as exc:\n"
        "        out[name] = type(exc).__name__\n"
        "try:\n"
        f"    out['key'] = open({str(key)!r}).read()[:4]\n"
        "except OSError as exc:\n"
        "    out['key'] = type(exc).__name__\n"
        "out['processes'] = len([p for p in os.listdir('/proc') if p.isdigit()])\n"
        "print(json.dumps(out))\n"
    )
    handle = request(client, f"```python\n{code}```", tools=("python",))
    completed = of_type(client.events(handle), "ToolCallCompleted")
    assert completed, "the snippet did not run"
    stdout = json.loads(completed[0]["payload"]["result_json"])["stdout"]
    seen = json.loads(stdout.strip().splitlines()[-1])
    assert {seen[name] for name in ports} == {"ConnectionRefusedError"}, seen
    assert seen["key"] == "FileNotFoundError" and seen["processes"] <= 3, seen
