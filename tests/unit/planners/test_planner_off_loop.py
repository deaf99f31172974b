"""A CPU-bound plan off the loop is timed out on time (#19 item 3); that an inline plan
holds the loop meanwhile is shown in test_planner_token_count.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from somagent.planners import OffLoopPlanner
from somagent.tools.calc import SPEC as CALC_SPEC
from somagent.turns.planner import DeterministicPlanner


def busy_count(text: str) -> int:
    """A tokenizer that spends about a second of CPU (a stand-in for a slow step)."""
    deadline = time.process_time() + 1.0
    while time.process_time() < deadline:
        pass
    return len(text.split())


def test_a_cpu_bound_plan_off_the_loop_is_timed_out() -> None:
    planner = OffLoopPlanner(DeterministicPlanner(count_tokens=busy_count))

    async def main() -> None:
        await asyncio.wait_for(planner.plan("what is 1+1", [CALC_SPEC], []), 0.05)

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    planner.close()
