"""The broker end to end over real tools, a real redis-server, and real entry points."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from somagent.contract.ids import idem_key, tool_call_id
from somagent.tools.breaker import BreakerConfig, RetryPolicy
from somagent.tools.broker import ToolBroker
from somagent.tools.calc import calc_tool
from somagent.tools.exceptions import DuplicateTool, ToolError, ToolExecutionError, UnknownTool
from somagent.tools.idempotency import RedisIdempotencyStore
from somagent.tools.isolation import Isolation
from somagent.tools.python_tool import python_tool
from somagent.tools.registry import ToolRegistry
from somagent.tools.spec import Tool, ToolContext, ToolSpec
from somagent.turns.state import ToolCall

TURN = "7c0a3d8e-1b2c-4d5e-8f90-a1b2c3d4e5f6"


def call(tool: str, args: dict[str, Any], index: int = 0) -> ToolCall:
    return ToolCall(index, tool, args, tool_call_id(TURN, index))


class Flaky:
    """A real executor that fails with a transient code until it has been called n times."""

    def __init__(self, failures: int, code: str = "unavailable") -> None:
        self.failures = failures
        self.code = code
        self.calls = 0

    async def __call__(self, arguments: Mapping[str, Any], ctx: ToolContext) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise ToolExecutionError(self.code, f"attempt {self.calls} failed")
        return {"value": str(self.calls)}


SPEC_ECHO = ToolSpec(
    "flaky",
    "A tool that fails a few times",
    {"type": "object"},
    {"type": "object", "required": ["value"]},
    timeout_s=2.0,
)


def broker(*tools: Tool, **kw: Any) -> ToolBroker:
    waits: list[float] = []

    async def record_sleep(s: float) -> None:
        waits.append(s)

    b = ToolBroker(ToolRegistry(tools), sleep=record_sleep, **kw)
    b.waits = waits  # type: ignore[attr-defined]
    return b


def invoke(b: ToolBroker, c: ToolCall, timeout_ms: int = 10_000, **kw: Any) -> Any:
    return asyncio.run(
        b.invoke(
            c,
            tenant="tenant-a",
            idem_key=idem_key(TURN, "tools", c.index),
            timeout_ms=timeout_ms,
            turn_id=TURN,
            **kw,
        )
    )


def test_calc_through_the_broker() -> None:
    r = invoke(broker(calc_tool()), call("calc", {"expression": "1/3 + 1/6"}))
    assert r.ok and r.schema_ok and r.output["value"] == "1/2"
    assert r.call_id == tool_call_id(TURN, 0)


def test_invalid_arguments_fail_the_call_with_every_problem() -> None:
    r = invoke(broker(calc_tool()), call("calc", {"expr": "1"}))
    assert not r.ok and r.error_code == "invalid-arguments"
    assert "'expression' is a required property" in r.error
    assert "('expr' was unexpected)" in r.error


def test_tool_errors_become_results() -> None:
    r = invoke(broker(calc_tool()), call("calc", {"expression": "1/0"}))
    assert (r.ok, r.error_code) == (False, "bad-input") and "division by zero" in r.error
    r = invoke(broker(calc_tool()), call("nope", {}))
    assert r.error_code == "unknown-tool"


def test_retries_idempotent_tools_with_backoff() -> None:
    flaky = Flaky(2)
    b = broker(Tool(SPEC_ECHO, flaky), retry=RetryPolicy(max_attempts=3, base_ms=50))
    r = invoke(b, call("flaky", {}))
    assert r.ok and r.output == {"value": "3"} and flaky.calls == 3
    assert b.waits == [0.05, 0.1]  # type: ignore[attr-defined]


def test_no_retry_for_non_idempotent_or_permanent_failures() -> None:
    spec = ToolSpec(
        "once", "Not idempotent", {"type": "object"}, {"type": "object"}, idempotent=False
    )
    flaky = Flaky(1)
    r = invoke(broker(Tool(spec, flaky)), call("once", {}))
    assert r.error_code == "unavailable" and flaky.calls == 1
    perm = Flaky(1, "bad-input")
    r = invoke(broker(Tool(SPEC_ECHO, perm)), call("flaky", {}))
    assert r.error_code == "bad-input" and perm.calls == 1


def test_circuit_breaker_opens_after_repeated_failures() -> None:
    flaky = Flaky(100)
    now = [0]
    b = broker(
        Tool(SPEC_ECHO, flaky),
        retry=RetryPolicy(max_attempts=1),
        breaker_config=BreakerConfig(failure_threshold=2, reset_timeout_ms=1000),
        clock_ms=lambda: now[0],
    )
    assert invoke(b, call("flaky", {})).error_code == "unavailable"
    assert invoke(b, call("flaky", {})).error_code == "unavailable"
    r = invoke(b, call("flaky", {}))
    assert r.error_code == "circuit-open" and flaky.calls == 2
    now[0] = 1000
    flaky.failures = 0
    assert invoke(b, call("flaky", {})).ok


def test_timeout_and_bad_schema() -> None:
    async def slow(arguments: Mapping[str, Any], ctx: ToolContext) -> Any:
        await asyncio.sleep(10)

    async def wrong(arguments: Mapping[str, Any], ctx: ToolContext) -> Any:
        return {"nope": 1}

    spec = ToolSpec("slow", "Sleeps", {"type": "object"}, {"type": "object"}, idempotent=False)
    r = invoke(broker(Tool(spec, slow)), call("slow", {}), timeout_ms=200)
    assert r.error_code == "timeout" and r.duration_ms < 2000
    r = invoke(broker(Tool(SPEC_ECHO, wrong)), call("flaky", {}))
    assert r.ok and not r.schema_ok


def test_deltas_are_numbered_in_order() -> None:
    seen: list[tuple[int, str]] = []

    async def on_delta(i: int, text: str) -> None:
        seen.append((i, text))

    code = "import time\nprint('a')\ntime.sleep(0.3)\nprint('b')"
    r = invoke(broker(python_tool()), call("python", {"code": code}), on_delta=on_delta)
    assert r.ok and r.output["stdout"] == "a\nb\n"
    assert [i for i, _ in seen] == list(range(len(seen))) and "".join(
        t for _, t in seen
    ) == "a\nb\n"


def test_side_effect_tool_never_runs_twice(redis_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    code = f"open({str(marker)!r}, 'a').write('x')\nprint('wrote')"

    async def scenario() -> tuple[Any, Any, Any, str]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            # the snippet's one writable host path: its side effect can be counted
            tool = python_tool(isolation=Isolation(writable=(str(tmp_path),)))
            b = ToolBroker(ToolRegistry([tool]), idempotency=RedisIdempotencyStore(client))
            c = call("python", {"code": code}, index=3)
            key = idem_key(TURN, "tools", 3)
            first = await b.invoke(c, tenant="t", idem_key=key, timeout_ms=10_000)
            again = await b.invoke(c, tenant="t", idem_key=key, timeout_ms=10_000)
            # a crash after the claim and before the record: never re-run, say so
            other = call("python", {"code": code}, index=4)
            okey = idem_key(TURN, "tools", 4)
            await client.set(f"idem:python:{okey}", "started", ex=60)
            doubt = await b.invoke(other, tenant="t", idem_key=okey, timeout_ms=10_000)
            ttl = await client.ttl(f"idem:python:{key}")
            return first, again, doubt, str(ttl)
        finally:
            await client.aclose()  # type: ignore[attr-defined]

    first, again, doubt, ttl = asyncio.run(scenario())
    assert first.ok and again.ok and again.output == first.output
    assert marker.read_text() == "x", "the side effect ran exactly once"
    assert doubt.error_code == "in-doubt"
    assert 0 < int(ttl) <= 24 * 3600


def test_registry_builtins_and_duplicates() -> None:
    reg = ToolRegistry.with_builtins(load_plugins=False)
    assert reg.names() == ["calc", "http_fetch", "python"]
    assert [s.name for s in reg.specs(["python", "ghost"])] == ["python"]
    with pytest.raises(DuplicateTool):
        reg.register(calc_tool())
    with pytest.raises(UnknownTool, match="registered: \\['calc', 'http_fetch', 'python'\\]"):
        reg.get("sql")


@pytest.fixture
def plugin_dist(tmp_path: Path) -> Iterator[Path]:
    """A real installed distribution (dist-info + module) advertising a tool entry point."""
    (tmp_path / "acme_tools.py").write_text(
        textwrap.dedent(
            """
        from somagent.tools.spec import Tool, ToolSpec

        async def shout(arguments, ctx):
            return {"text": str(arguments["text"]).upper()}

        def make():
            return Tool(ToolSpec("acme.shout", "Upper-case some text",
                                 {"type": "object", "required": ["text"],
                                  "properties": {"text": {"type": "string"}}},
                                 {"type": "object"}), shout)

        broken = 42
        """
        )
    )
    info = tmp_path / "acme_tools-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tools\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[somagent.tools]\nshout = acme_tools:make\n\n"
        "[somagent.tools.broken]\nbad = acme_tools:broken\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("acme_tools", None)


def test_entry_point_tools_register_and_run(plugin_dist: Path) -> None:
    reg = ToolRegistry([calc_tool()])
    assert reg.load_entry_points() == ["acme.shout"]
    r = invoke(ToolBroker(reg), call("acme.shout", {"text": "hi"}))
    assert r.ok and r.output == {"text": "HI"}
    with pytest.raises(ToolError, match="bad = acme_tools:broken"):
        ToolRegistry().load_entry_points("somagent.tools.broken")
