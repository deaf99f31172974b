"""A turn step: the job asks the turn engine for a turn and waits for its end.

It does not run the turn: it appends ``TurnRequested`` (in the job's own session, so
the turn is the engine's like any other) and reads the session's partition until the
turn's ``TurnCompleted``. Guarantees:

* **One request per turn**: where the turn's request goes (partition, and the offset
  the log had before) is written to Redis (``jobturn:{job}:{purpose}:{step}``) before
  the request is appended; an attempt that finds the record scans from there and
  appends only if the request is not in the log. A worker killed mid-step therefore
  never asks for the same turn twice; the retry waits for the turn already requested.
* **Retries are new turns**: a turn that failed marks the record, and the step's next
  attempt asks for the next generation's turn (a new deterministic id).
* **Budget**: each request reserves tokens of the job's budget (``sess:{job session}``,
  opened once with the job's ``budget.tokens``); an exhausted budget fails the step
  for good (``budget-exhausted``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Protocol

from somagent.contract import names
from somagent.contract.ids import event_id
from somagent.events.envelope import make_event
from somagent.jobs import events as ev
from somagent.jobs.keylog import KeyedLog
from somagent.jobs.messages import TurnCall
from somagent.jobs.steps import fail_step
from somagent.limits.budget import RedisTokenBudget

RESERVE_OUTPUT_TOKENS = 2048
RECORD_TTL_S = 30 * 86_400
BUDGET_TTL_S = 30 * 86_400
Heartbeat = Callable[[], None]


class Appender(Protocol):
    async def append(self, event: dict[str, Any]) -> tuple[int, int]: ...


def record_key(call: TurnCall) -> str:
    return f"jobturn:{call.job_id}:{call.purpose}:{call.step}"


def _text(raw: dict[Any, Any]) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else str(k)):
            (v.decode() if isinstance(v, bytes) else str(v)) for k, v in raw.items()}


def _is_end(turn: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("turn") == turn and e.get("type") == names.TURN_COMPLETED


class TurnSteps:
    """Runs turn steps for the jobs worker (one instance per process)."""

    def __init__(self, appender: Appender, log: KeyedLog, redis: Any,
                 budget: RedisTokenBudget) -> None:
        self.appender = appender
        self.log = log
        self.redis = redis
        self.budget = budget

    async def run(self, call: TurnCall, attempt: int, heartbeat: Heartbeat) -> dict[str, Any]:
        """The turn's answer (``turn_id``, ``text``, ``citations``), or a step failure."""
        record = _text(await self.redis.hgetall(record_key(call)))
        if record.get("outcome") == "ok":
            return dict(json.loads(record["result"]))
        session = ev.job_session(call.job_id)
        if not record or record.get("outcome") == "failed":
            record = await self._new_turn(call, session, int(record.get("generation", -1)) + 1)
            requested = False
        else:
            requested = await self._requested(record, session)
        turn, partition, start = record["turn_id"], int(record["partition"]), int(record["start"])
        if not requested:
            await self._request(call, session, turn, attempt)
        try:
            events = await self._follow(partition, start, session, turn, heartbeat)
        except asyncio.CancelledError:
            await self.appender.append(self._cancel_event(call, session, turn))
            raise
        return await self._outcome(call, turn, events, attempt)

    async def _new_turn(self, call: TurnCall, session: str, generation: int) -> dict[str, str]:
        partition = self.log.partition_of(session)
        start = await asyncio.to_thread(self.log.end_offset, partition)
        record = {"generation": str(generation),
                  "turn_id": ev.turn_id(call.job_id, call.purpose, call.step, generation),
                  "partition": str(partition), "start": str(start), "outcome": ""}
        key = record_key(call)
        await self.redis.hset(key, mapping=record)
        await self.redis.expire(key, RECORD_TTL_S)
        return record

    async def _requested(self, record: dict[str, str], session: str) -> bool:
        """Whether an earlier attempt's request for this turn is already in the log."""
        turn, partition = record["turn_id"], int(record["partition"])
        end = await asyncio.to_thread(self.log.end_offset, partition)
        found = await asyncio.to_thread(
            self.log.read, partition, int(record["start"]), session, end=end,
            until=lambda e: e.get("turn") == turn and e.get("type") == names.TURN_REQUESTED)
        return found.stopped

    async def _request(self, call: TurnCall, session: str, turn: str, attempt: int) -> None:
        await self.budget.open_once(session, call.budget_tokens, BUDGET_TTL_S,
                                    {"tenant": call.tenant, "job_id": call.job_id})
        want = -(-len(call.text.encode("utf-8")) // 4) + RESERVE_OUTPUT_TOKENS
        decision = await self.budget.reserve(session, want)
        if not decision.reserved_ok:
            raise fail_step("budget-exhausted",
                            f"job {call.job_id} has {decision.remaining} tokens left of its "
                            f"budget; step {call.step} needs {want}", attempt, permanent=True)
        await self.appender.append(make_event(
            names.TURN_REQUESTED,
            {"turn_id": turn, "session_id": session, "text": call.text,
             "allow_tools": list(call.tools), "memory_mode": call.memory,
             "idempotency_key": f"job:{call.job_id}:{call.purpose}:{call.step}",
             "deadline_ms": call.deadline_ms, "capsule_ids": []},
            tenant=call.tenant, producer=ev.PRODUCER, session=session, turn=turn,
            trace_id=call.trace_id, seq=0, event_id=event_id(turn, names.TURN_REQUESTED),
        ))

    async def _follow(self, partition: int, start: int, session: str, turn: str,
                      heartbeat: Heartbeat) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        position = start
        while True:
            heartbeat()
            got = await asyncio.to_thread(self.log.read, partition, position, session,
                                          until=_is_end(turn), wait_s=2.0)
            events += [r.event for r in got.records if r.event.get("turn") == turn]
            position = got.next_offset
            if got.stopped:
                return events

    async def _outcome(self, call: TurnCall, turn: str, events: list[dict[str, Any]],
                       attempt: int) -> dict[str, Any]:
        by_type = {e["type"]: e["payload"] for e in events}
        key = record_key(call)
        failed = by_type.get(names.TURN_FAILED)
        if failed is not None or names.TURN_ANSWERED not in by_type:
            await self.redis.hset(key, "outcome", "failed")
            reason = f"{failed['reason_code']}: {failed['message']}" if failed else "no answer"
            raise fail_step("turn-failed", f"turn {turn} failed ({reason})", attempt)
        answer = by_type[names.TURN_ANSWERED]
        result = {"turn_id": turn, "text": answer["text"],
                  "citations": list(answer.get("citations") or ())}
        await self.redis.hset(key, mapping={"outcome": "ok", "result": json.dumps(result)})
        return result

    def _cancel_event(self, call: TurnCall, session: str, turn: str) -> dict[str, Any]:
        return make_event(
            names.TURN_CANCEL_REQUESTED, {"reason": f"job {call.job_id} stopped step {call.step}"},
            tenant=call.tenant, producer=ev.PRODUCER, session=session, turn=turn,
            trace_id=call.trace_id, seq=0, event_id=event_id(turn, names.TURN_CANCEL_REQUESTED))


