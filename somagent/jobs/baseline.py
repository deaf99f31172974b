"""The baseline ``bench/jobs.py`` compares a job step with: a bare Temporal workflow whose
steps are activities that do nothing (no events, no broker, no Kafka, no Redis).

Registered only by the benchmark's own worker, never by ``somagent serve jobs``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

BARE_WORKFLOW = "bench.BareSteps"
NOOP_ACTIVITY = "bench.noop"


@activity.defn(name=NOOP_ACTIVITY)
async def noop(index: int) -> int:
    """Does nothing; returns its argument."""
    return index


@workflow.defn(name=BARE_WORKFLOW)
class BareSteps:
    """``steps`` no-op activities, one after the other."""

    @workflow.run
    async def run(self, steps: int) -> int:
        for i in range(steps):
            await workflow.execute_activity(
                NOOP_ACTIVITY, i, result_type=int, start_to_close_timeout=timedelta(seconds=30))
        return steps
