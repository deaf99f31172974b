"""Run the pure deterministic planner off the event loop that serves other turns.

:class:`~somagent.turns.planner.DeterministicPlanner` is CPU work over text a user
controls (the turn text, tool output, recalled memory). Every step of it is linear
in its input, but 32 KiB of text still costs tens of milliseconds, and a turn
worker serves all its turns on one asyncio loop. :class:`OffLoopPlanner` runs
``make_plan`` and ``compose_answer`` on a small thread pool of its own, so:

* the loop keeps serving other tenants' turns while a large input is planned;
* the engine's step timeout (``asyncio.wait`` in the driver) fires on time: a
  step that blocked the loop could never be timed out. A plan that runs past its
  timeout fails the turn with ``step_timeout``; its thread finishes the (bounded)
  computation in the background and the result is dropped.

The planner stays ``local`` (pure and reproducible): same input, same plan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final

from somagent.turns.planner import DeterministicPlanner, ToolDescription
from somagent.turns.state import Answer, Evidence, Plan, ToolCall, ToolResult

#: Threads per worker process for planning; pure CPU work gains nothing from more
#: threads under the GIL, and a bound keeps a burst of large inputs from piling up.
PLANNER_THREADS: Final = 2


@dataclass
class OffLoopPlanner:
    """The :class:`~somagent.turns.planner.Planner` protocol over ``inner``, computed
    on a thread pool (see the module doc)."""

    inner: DeterministicPlanner
    threads: int = PLANNER_THREADS
    _pool: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="planner")

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def local(self) -> bool:
        return self.inner.local

    async def plan(
        self, text: str, tools: Sequence[ToolDescription], evidence: Sequence[Evidence]
    ) -> Plan:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.inner.make_plan, text, list(tools))

    async def answer(
        self,
        text: str,
        evidence: Sequence[Evidence],
        tool_results: Sequence[ToolResult],
        calls: Sequence[ToolCall] = (),
    ) -> Answer:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool,
            self.inner.compose_answer,
            text,
            list(evidence),
            list(tool_results),
            list(calls),
        )

    def close(self) -> None:
        """Stop the threads (pending work is dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
