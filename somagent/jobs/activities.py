"""The jobs worker's activities: append job events, run tool steps, run turn steps.

Every activity heartbeats while it works (a killed worker's attempt is retried after
the heartbeat timeout, on another worker) and reports its attempt number with its
result, so the job's events say how many attempts a step took. Failures are raised as
``ApplicationError`` typed by a stable reason code (see :mod:`somagent.jobs.steps`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from temporalio import activity

from somagent.jobs import messages as msg
from somagent.jobs.tool_step import ToolSteps
from somagent.jobs.turn_step import TurnSteps

HEARTBEAT_EVERY_S = 2.0


class Sink(Protocol):
    async def publish(self, events: list[dict[str, Any]]) -> Any: ...


@contextlib.asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat every :data:`HEARTBEAT_EVERY_S` while the block runs."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class JobActivities:
    """Bound to one worker process's clients; register ``activities()`` on the worker."""

    def __init__(self, sink: Sink, tools: ToolSteps, turns: TurnSteps) -> None:
        self.sink = sink
        self.tools = tools
        self.turns = turns

    @activity.defn(name=msg.EMIT)
    async def emit(self, events: list[dict[str, Any]]) -> int:
        """Append ``events`` in order and wait for the broker's acks; returns how many."""
        await self.sink.publish(events)
        return len(events)

    @activity.defn(name=msg.TOOL)
    async def tool(self, args: msg.ToolCallArgs) -> dict[str, Any]:
        attempt = activity.info().attempt
        async with heartbeating():
            output = await self.tools.run(args, attempt)
        return {"output": output, "attempt": attempt}

    @activity.defn(name=msg.TURN)
    async def turn(self, call: msg.TurnCall) -> dict[str, Any]:
        attempt = activity.info().attempt
        output = await self.turns.run(call, attempt, activity.heartbeat)
        return {"output": output, "attempt": attempt}

    def activities(self) -> list[Any]:
        return [self.emit, self.tool, self.turn]
