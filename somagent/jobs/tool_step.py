"""A tool step: one call through the tool broker, keyed for idempotency by job + step.

The broker does what it does for turns (argument schema, rate/budget gates, the
idempotency record ``idem:{tool}:{key}`` for side-effect tools, limits, result schema);
the key is :func:`somagent.jobs.events.tool_idem_key`, so every attempt of a step (a
Temporal retry, a worker killed mid-step) presents the same key and a side effect runs
at most once. A call the tenant's rate or budget window refuses is tried again with
backoff (0.5 s doubling to 10 s) until the step's time limit, not failed at once. A
successful call is metered once per step (``UsageRecorded`` with a deterministic usage
id, in the job's session).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final, Protocol

from somagent.contract import names
from somagent.events.envelope import make_event, now_us
from somagent.jobs import events as ev
from somagent.jobs.messages import ToolCallArgs
from somagent.jobs.steps import fail_step
from somagent.tools.broker import ToolBroker
from somagent.turns.events import UsagePrices, UsageRecord
from somagent.turns.state import ToolCall

#: Broker failures a retry cannot fix (the step fails at once).
PERMANENT: Final = frozenset({"unknown-tool", "invalid-arguments", "in-doubt", "bad-output"})
#: The tenant's rate or budget window refused the call: wait for room, within the step's
#: time limit, instead of failing (a job is background work).
THROTTLED: Final = frozenset({"rate-limit", "budget"})
MAX_THROTTLE_WAIT_S: Final = 10.0


class Publisher(Protocol):
    async def publish(self, events: list[dict[str, Any]]) -> Any: ...


class ToolSteps:
    """Runs tool steps for the jobs worker (one instance per process)."""

    def __init__(self, broker: ToolBroker, publisher: Publisher, prices: UsagePrices) -> None:
        self.broker = broker
        self.publisher = publisher
        self.prices = prices

    async def run(self, a: ToolCallArgs, attempt: int) -> Any:
        """The tool's output, or a step failure (``ApplicationError`` typed by reason)."""
        key = ev.tool_idem_key(a.job_id, a.purpose, a.step)
        deadline = time.monotonic() + a.timeout_ms / 1000
        wait_s = 0.5
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            result = await self.broker.invoke(
                ToolCall(0, a.tool, a.arguments, call_id=key),
                tenant=a.tenant, idem_key=key, timeout_ms=max(1, left_ms), turn_id="",
            )
            if result.ok or result.error_code not in THROTTLED or \
                    time.monotonic() + wait_s >= deadline:
                break
            await asyncio.sleep(wait_s)  # the caller heartbeats meanwhile
            wait_s = min(wait_s * 2, MAX_THROTTLE_WAIT_S)
        if not result.ok:
            raise fail_step(result.error_code or "tool-failed", result.error, attempt,
                            permanent=result.error_code in PERMANENT)
        if not result.schema_ok:
            raise fail_step("bad-output", f"{a.tool}: output does not match its result schema",
                            attempt, permanent=True)
        await self.publisher.publish([self._usage(a)])
        return result.output

    def _usage(self, a: ToolCallArgs) -> dict[str, Any]:
        usage = UsageRecord(
            usage_id=ev.tool_usage_id(a.job_id, a.purpose, a.step, a.tool), ts=now_us(),
            tenant=a.tenant, session=ev.job_session(a.job_id), turn="", trace_id=a.trace_id,
            seq=0, agent=f"tool:{a.tool}", tool_calls=1,
        )
        return make_event(names.USAGE_RECORDED, usage.payload(self.prices), tenant=a.tenant,
                          producer=ev.PRODUCER, session=usage.session, trace_id=a.trace_id,
                          event_id=usage.usage_id, ts_us=usage.ts)
