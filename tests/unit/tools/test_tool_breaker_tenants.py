"""Breakers per (tenant, instance), and a caller's own failure is not the tool's (#19 item 4).

Real tools through the real broker: the ``python`` tool in its sandbox, and small
executors that fail the way an unreachable dependency does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from somagent.contract.ids import idem_key, tool_call_id
from somagent.tools.breaker import BreakerConfig, BreakerState, RetryPolicy
from somagent.tools.broker import ToolBroker
from somagent.tools.exceptions import ToolExecutionError
from somagent.tools.python_tool import python_tool
from somagent.tools.registry import ToolRegistry
from somagent.tools.spec import Tool, ToolContext, ToolSpec
from somagent.turns.state import ToolCall, ToolResult

TURN = "0d0a3d8e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
A, B = "tenant-a", "tenant-b"
CFG = BreakerConfig(failure_threshold=2, reset_timeout_ms=60_000)


def run(b: ToolBroker, tenant: str, tool: str, args: dict[str, Any], n: int = 0,
        timeout_ms: int = 10_000) -> ToolResult:
    call = ToolCall(0, tool, args, tool_call_id(TURN, n))
    return asyncio.run(
        b.invoke(call, tenant=tenant, idem_key=idem_key(TURN, f"{tenant}-{n}", 0),
                 timeout_ms=timeout_ms, turn_id=TURN)
    )


class DependencyDown:
    """Fails like a tool whose backend is unreachable, for ``down`` tenants or instances."""

    def __init__(self, tenants: set[str] = frozenset(), instances: set[str] = frozenset()) -> None:
        self.tenants, self.instances = set(tenants), set(instances)
        self.ran_on: list[str] = []

    async def __call__(self, arguments: Mapping[str, Any], ctx: ToolContext) -> Any:
        self.ran_on.append(ctx.instance_id)
        if ctx.tenant in self.tenants or ctx.instance_id in self.instances:
            raise ToolExecutionError("unavailable", f"backend of {ctx.instance_id} unreachable")
        return {"value": ctx.instance_id}


def spec(instances: int = 1) -> ToolSpec:
    return ToolSpec("lookup", "Looks something up", {"type": "object"}, {"type": "object"},
                    timeout_s=2.0, instances=instances)


def test_a_tenants_failing_programs_never_open_the_breaker() -> None:
    """The reported attack: python snippets that sys.exit(3) disabled the tool for all."""
    b = ToolBroker(ToolRegistry([python_tool()]), breaker_config=CFG,
                   retry=RetryPolicy(max_attempts=1))
    for n in range(5):
        r = run(b, A, "python", {"code": "import sys\nsys.exit(3)"}, n)
        assert (r.ok, r.error_code) == (False, "crashed"), r
    r = run(b, A, "python", {"code": "raise ValueError('mine')"}, 10)
    assert r.error_code == "crashed" and "ValueError" in r.error
    assert b.breakers == {}
    assert run(b, B, "python", {"code": "print(6 * 7)"}, 20).output["stdout"] == "42\n"
    assert run(b, A, "python", {"code": "print('still mine')"}, 21).ok


def test_a_program_past_its_time_is_the_callers_failure() -> None:
    b = ToolBroker(ToolRegistry([python_tool()]), breaker_config=BreakerConfig(1, 60_000))
    r = run(b, A, "python", {"code": "while True:\n    pass"}, 0, timeout_ms=1_500)
    assert r.error_code in {"timeout", "cpu-limit"}, r
    assert b.breakers == {}
    assert run(b, A, "python", {"code": "print(1)"}, 1).ok


def test_infrastructure_failures_open_the_breaker_for_that_tenant_only() -> None:
    tool = DependencyDown(tenants={A})
    b = ToolBroker(ToolRegistry([Tool(spec(), tool)]), breaker_config=CFG,
                   retry=RetryPolicy(max_attempts=1))
    assert [run(b, A, "lookup", {}, n).error_code for n in range(3)] == [
        "unavailable", "unavailable", "circuit-open"
    ]
    assert len(tool.ran_on) == 2
    assert b.breakers[(A, "lookup#0")].state is BreakerState.OPEN
    assert run(b, B, "lookup", {}, 9).output == {"value": "lookup#0"}
    assert (B, "lookup#0") not in b.breakers


def test_a_broken_instance_is_avoided_and_the_others_serve() -> None:
    tool = DependencyDown(instances={"lookup#0"})
    b = ToolBroker(ToolRegistry([Tool(spec(instances=2), tool)]), breaker_config=CFG,
                   retry=RetryPolicy(max_attempts=1))
    results = [run(b, A, "lookup", {}, n) for n in range(8)]
    assert all(r.ok or r.error_code == "unavailable" for r in results)
    assert sum(not r.ok for r in results) <= CFG.failure_threshold
    assert results[-1].output == {"value": "lookup#1"}
    assert b.breakers[(A, "lookup#0")].failures >= 1
    assert (A, "lookup#1") not in b.breakers


def test_every_instance_open_for_a_tenant_refuses_only_that_tenant() -> None:
    tool = DependencyDown(tenants={A})
    b = ToolBroker(ToolRegistry([Tool(spec(instances=2), tool)]), breaker_config=CFG,
                   retry=RetryPolicy(max_attempts=1))
    codes = [run(b, A, "lookup", {}, n).error_code for n in range(6)]
    assert codes[-1] == "circuit-open" and codes.count("unavailable") == 4
    assert {k for k, v in b.breakers.items() if v.state is BreakerState.OPEN} == {
        (A, "lookup#0"), (A, "lookup#1")
    }
    assert run(b, B, "lookup", {}, 9).ok


def test_a_tool_that_never_answers_counts_against_it() -> None:
    async def hangs(arguments: Mapping[str, Any], ctx: ToolContext) -> Any:
        await asyncio.sleep(30)

    hang = ToolSpec("hang", "Never answers", {"type": "object"}, {"type": "object"},
                    idempotent=False, timeout_s=0.3)
    b = ToolBroker(ToolRegistry([Tool(hang, hangs)]), breaker_config=BreakerConfig(1, 60_000))
    # the caller's deadline (0.2 s) ends the call before the tool's own limit: not the tool's
    assert run(b, A, "hang", {}, 0, timeout_ms=200).error_code == "timeout"
    assert b.breakers == {}
    # the tool's own limit (0.3 s) passes with no answer: the tool failed
    assert run(b, A, "hang", {}, 1, timeout_ms=5_000).error_code == "timeout"
    assert run(b, A, "hang", {}, 2, timeout_ms=5_000).error_code == "circuit-open"
    assert run(b, B, "hang", {}, 3, timeout_ms=5_000).error_code == "timeout"


def test_the_callers_failure_is_never_retried() -> None:
    calls: list[int] = []

    async def refuses(arguments: Mapping[str, Any], ctx: ToolContext) -> Any:
        calls.append(1)
        raise ToolExecutionError("query-failed", "unknown column nope", infrastructure=False)

    b = ToolBroker(ToolRegistry([Tool(spec(), refuses)]), retry=RetryPolicy(max_attempts=3))
    assert run(b, A, "lookup", {}).error_code == "query-failed"
    assert calls == [1] and b.breakers == {}
