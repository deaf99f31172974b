"""Sliding-window rate and budget gates on a real redis-server."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from somagent.tools.broker import ToolBroker
from somagent.tools.calc import calc_tool
from somagent.tools.gates import GateDecision, GateLimits, RedisGate
from somagent.tools.registry import ToolRegistry
from somagent.turns.state import ToolCall


def run(redis_url: str, scenario: Any) -> Any:
    async def main() -> Any:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.flushdb()
            return await scenario(client)
        finally:
            await client.aclose()  # type: ignore[attr-defined]

    return asyncio.run(main())


def test_rate_window_slides(redis_url: str) -> None:
    now = [1_000_000]

    async def scenario(client: Any) -> list[GateDecision]:
        gate = RedisGate(
            client, {"default": GateLimits(rate_limit=2, window_ms=1000)}, clock_ms=lambda: now[0]
        )
        out = [
            await gate.admit("t1", "calc", "default", "k1"),
            await gate.admit("t1", "calc", "default", "k1"),  # same call: not counted again
            await gate.admit("t1", "calc", "default", "k2"),
        ]
        now[0] += 400
        out.append(await gate.admit("t1", "calc", "default", "k3"))
        out.append(await gate.admit("t2", "calc", "default", "k3"))  # other tenant
        out.append(await gate.admit("t1", "python", "default", "k3"))  # other tool
        now[0] += 601
        out.append(await gate.admit("t1", "calc", "default", "k4"))
        return out

    d = run(redis_url, scenario)
    assert [x.admitted for x in d] == [True, True, True, False, True, True, True]
    assert d[3] == GateDecision(False, "rate-limit", 600)


def test_budget_window(redis_url: str) -> None:
    now = [5_000]

    async def scenario(client: Any) -> list[GateDecision]:
        gate = RedisGate(
            client,
            {"sql": GateLimits(rate_limit=None, budget_units=10, window_ms=1000)},
            clock_ms=lambda: now[0],
        )
        out = [
            await gate.admit("t", "sql", "sql", "a", 6),
            await gate.admit("t", "sql", "sql", "b", 5),
        ]
        now[0] += 1001
        out.append(await gate.admit("t", "sql", "sql", "b", 5))
        return out

    d = run(redis_url, scenario)
    assert [x.admitted for x in d] == [True, False, True]
    assert d[1].code == "budget" and d[1].retry_after_ms == 1000


def test_broker_refuses_over_the_rate(redis_url: str) -> None:
    async def scenario(client: Any) -> list[str]:
        gate = RedisGate(client, {"cheap": GateLimits(rate_limit=1, window_ms=60_000)})
        broker = ToolBroker(ToolRegistry([calc_tool()]), gate=gate)
        codes = []
        for i in range(2):
            r = await broker.invoke(
                ToolCall(i, "calc", {"expression": "1+1"}),
                tenant="t",
                idem_key=f"k{i}",
                timeout_ms=1000,
            )
            codes.append("ok" if r.ok else r.error_code)
        return codes

    assert run(redis_url, scenario) == ["ok", "rate-limit"]


def test_server_clock_by_default(redis_url: str) -> None:
    async def scenario(client: Any) -> tuple[list[bool], float]:
        gate = RedisGate(client, {"default": GateLimits(rate_limit=1, window_ms=60_000)})
        admitted = [(await gate.admit("t", "calc", "default", k)).admitted for k in "ab"]
        scores = await client.zrange("rate:t:calc", 0, -1, withscores=True)
        seconds, micros = await client.time()
        return admitted, abs(scores[0][1] - (seconds * 1000 + micros // 1000))

    admitted, skew_ms = run(redis_url, scenario)
    assert admitted == [True, False]
    assert skew_ms < 5_000  # scored in epoch ms of the server's clock
