"""A whole turn: machine + deterministic planner + real tools + verify, with crashes.

The loop below is the reference for the Faust wiring: publish a transition's
events, store its state, perform its action, feed the outcome back. A worker
killed at any point resumes from the stored state; events re-emitted by a
repeated step carry the same ids (consumers drop them), and the side-effect
tool (``python``) never runs twice thanks to the Redis idempotency record.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from somagent.tools.broker import ToolBroker
from somagent.tools.idempotency import RedisIdempotencyStore
from somagent.tools.registry import ToolRegistry
from somagent.turns import events as ev
from somagent.turns import machine as m
from somagent.turns.planner import DeterministicPlanner
from somagent.turns.state import TurnState, state_from_dict, state_to_dict
from somagent.turns.verify import verify

TURN = "3f2a6c1e-8d4b-4e7a-9c0d-5b6a7e8f9012"


class Crash(Exception):
    """The worker dies here (after publishing, before storing the state)."""


@dataclass
class World:
    """What outlives a worker: the log, the table, Redis."""

    log: dict[str, ev.TurnEvent] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    usage: dict[str, ev.UsageRecord] = field(default_factory=dict)
    table: dict[str, dict[str, Any]] = field(default_factory=dict)
    commits: int = 0
    crashed: bool = False

    def publish(self, t: m.Transition) -> None:
        for e in t.events:
            if e.event_id not in self.log:  # consumers dedupe by event id
                self.log[e.event_id] = e
                self.order.append(e.event_id)
        for u in t.usage:
            self.usage.setdefault(u.usage_id, u)


async def drive(world: World, broker: ToolBroker, text: str, crash_at: int | None) -> None:
    planner = DeterministicPlanner()
    clock = itertools.count(1_000)
    steps = itertools.count()
    stored = world.table.get(TURN)
    if stored is None:
        req = m.TurnRequest(TURN, "sess", "tenant-a", text, 10**15, ("calc", "python"))
        t = m.start(req, next(clock))
    else:
        t = m.resume(state_from_dict(stored), next(clock))
    state: TurnState = t.state

    def commit(tr: m.Transition) -> None:
        nonlocal state
        world.publish(tr)
        world.commits += 1
        if next(steps) == crash_at:
            world.crashed = True
            raise Crash
        world.table[TURN] = state_to_dict(tr.state)
        state = tr.state

    commit(t)
    action = t.action
    while not isinstance(action, m.Finish):
        now = next(clock)
        if isinstance(action, m.RunRecall):
            t = m.on_recalled(state, (), now)
        elif isinstance(action, m.RunPlan):
            allowed = list(state.allow_tools)
            plan = await planner.plan(state.text, broker.registry.specs(allowed), state.evidence)
            t = m.on_planned(state, plan, now, allowed_tools=allowed)
        elif isinstance(action, m.RunToolCall):

            async def on_delta(i: int, text: str, index: int = action.index) -> None:
                commit(m.on_tool_delta(state, index, i, text, next(clock)))

            result = await broker.invoke(
                action.call,
                tenant=state.tenant,
                idem_key=action.idem_key,
                timeout_ms=action.timeout_ms,
                turn_id=state.turn_id,
                on_delta=on_delta,
            )
            t = m.on_tool_result(state, result, next(clock))
        elif isinstance(action, m.RunVerify):
            plan_calls = state.plan.calls if state.plan else ()
            answer = await planner.answer(
                state.text, state.evidence, state.tool_results, plan_calls
            )
            t = m.on_verified(
                state, answer, verify(answer, state.evidence, state.tool_results), now
            )
        elif isinstance(action, m.RunAnswer):
            t = m.on_answered(state, now)
        else:
            t = m.on_remembered(state, [], 0, now)
        commit(t)
        action = t.action


TEXT = "What is (1/3 + 1/6) * 3? Then run\n```python\nprint('side effect')\n```"


def run_turn(redis_url: str, marker: Path, crash_at: int | None) -> World:
    world = World()
    text = TEXT.replace(
        "print('side effect')", f"open({str(marker)!r}, 'a').write('x'); print('side effect')"
    )

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        await client.flushdb()
        broker = ToolBroker(
            ToolRegistry.with_builtins(load_plugins=False),
            idempotency=RedisIdempotencyStore(client),
        )
        try:
            try:
                await drive(world, broker, text, crash_at)
            except Crash:
                await drive(world, broker, text, None)  # a new worker picks the turn up
        finally:
            await client.aclose()  # type: ignore[attr-defined]

    asyncio.run(main())
    return world


def summary(world: World, marker: Path) -> list[tuple[str, str]]:
    """Event types and payloads, minus timings, with the marker path neutralised.
    Deltas are folded into one entry per call: how a stream splits into chunks
    depends on timing, the text it carries does not."""
    out = []
    streamed: dict[str, str] = {}
    for eid in world.order:
        e = world.log[eid]
        if e.type == ev.TOOL_CALL_DELTA:
            streamed[e.payload["call_id"]] = (
                streamed.get(e.payload["call_id"], "") + e.payload["chunk"]
            )
            continue
        payload = {k: v for k, v in e.payload.items() if k not in ("duration_ms", "result_json")}
        out.append((e.type, json.dumps(payload, sort_keys=True).replace(str(marker), "M")))
    out.extend((ev.TOOL_CALL_DELTA, f"{k}: {v}") for k, v in sorted(streamed.items()))
    return out


def test_turn_runs_end_to_end(redis_url: str, tmp_path: Path) -> None:
    world = run_turn(redis_url, tmp_path / "m", None)
    types = [world.log[e].type for e in world.order]
    assert types[:4] == [
        ev.TURN_RECALLED,
        ev.TURN_PLANNED,
        ev.TOOL_CALL_REQUESTED,
        ev.TOOL_CALL_REQUESTED,
    ]
    assert types[-4:] == [
        ev.TOOL_CALL_COMPLETED,
        ev.TURN_VERIFIED,
        ev.TURN_ANSWERED,
        ev.TURN_COMPLETED,
    ]
    assert ev.TOOL_CALL_DELTA in types
    answer = next(json.loads(p) for t, p in summary(world, tmp_path) if t == ev.TURN_ANSWERED)
    assert "(1/3 + 1/6) * 3 = 3/2 (≈ 1.5)" in answer["text"]
    assert "side effect" in answer["text"]
    seqs = [world.log[e].seq for e in world.order]
    assert seqs == list(range(1, len(seqs) + 1))
    assert (tmp_path / "m").read_text() == "x"
    assert sorted(u.agent for u in world.usage.values()) == ["edge", "tool:calc", "tool:python"]


@pytest.mark.parametrize("crash_at", range(12))
def test_crash_anywhere_resumes_with_the_same_events_and_one_side_effect(
    redis_url: str, tmp_path: Path, crash_at: int
) -> None:
    clean = run_turn(redis_url, tmp_path / "clean", None)
    crashed = run_turn(redis_url, tmp_path / "crashed", crash_at)
    got = summary(crashed, tmp_path / "crashed")
    # start, recall, plan, >= 1 delta, two results, verify, answer: at least 8 commits
    assert clean.commits >= 8
    if crash_at < 8:
        assert crashed.crashed
    assert (tmp_path / "crashed").read_text() == "x", "the python side effect ran once"
    if any(t == ev.TOOL_CALL_FAILED and "in-doubt" in p for t, p in got):
        # The worker died while the side-effect tool was running: its outcome is
        # unknown, so the resumed turn reports the call instead of running it again.
        answered = next(json.loads(p) for t, p in got if t == ev.TURN_ANSWERED)
        assert "python failed (in-doubt)" in answered["text"]
        assert got[-2][0] == ev.TURN_COMPLETED
    else:
        assert got == summary(clean, tmp_path / "clean")
        assert set(crashed.usage) == set(clean.usage)
