"""Drives one turn: publish a transition, store its state, perform its action, repeat.

The pure machine (:mod:`somagent.turns.machine`) decides; this module only
performs the I/O it asks for, through small interfaces:

* :class:`EventSink` appends events and usage records and returns once the
  broker acknowledged them (``acks=all``);
* :class:`ProgressStore` keeps each turn's state (a changelog-backed Faust table
  in the worker), written *after* the transition's events are acknowledged.

Guarantees:

* Resume: a turn whose state is stored continues at ``state.step`` (the step
  after the last completed one); events a repeated step re-emits carry the same
  deterministic ids, so consumers drop them.
* Side effects run at most once: tool calls go through the broker with their
  idempotency key (``idem:{tool}:{key}`` in Redis).
* Nothing hangs: every action is bounded by its step timeout (and the turn
  deadline, which the machine checks on every outcome); a cancel request
  interrupts the running action.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from somagent.contract.ids import stable_id
from somagent.limits.exceptions import GuardUnavailable
from somagent.memory.client import RememberReceipt
from somagent.memory.model import EvidenceBlock
from somagent.telemetry import metrics, tracing
from somagent.tools.broker import ToolBroker
from somagent.tools.policy import SessionPolicy, decide
from somagent.turns import events as ev
from somagent.turns import machine as m
from somagent.turns.planner import Planner
from somagent.turns.request import TurnRequest, request_from_event
from somagent.turns.state import (
    Evidence,
    FailureReason,
    Step,
    TurnState,
    state_from_dict,
    state_to_dict,
)
from somagent.turns.verify import verify

log = logging.getLogger(__name__)

# How long after its deadline a TurnRequested this group has no state for is still
# failed (deadline_exceeded) rather than skipped as history: longer than any outage a
# client keeps resuming through (the edge holds an in-doubt Idempotency-Key 330 s).
LATE_REQUEST_HORIZON_MS = 15 * 60_000


class EventSink(Protocol):
    """Appends envelopes (to ``catalog.topic_for(type)``); returns their positions once
    acknowledged (:class:`somagent.kafka.producer.EventProducer`)."""

    async def publish(self, events: Sequence[dict[str, Any]]) -> Sequence[tuple[int, int]]: ...


class TurnMemory(Protocol):
    """Recall and remember as the Memory Gateway serves them
    (:class:`somagent.memory.client.MemoryGatewayClient`); an ``evaluate`` with the
    signature of ``recall`` (the brain's ContextBundle), when present, is used instead."""

    async def recall(
        self, tenant: str, query: str, top_k: int = 5, capsule_ids: Sequence[str] | None = None
    ) -> list[EvidenceBlock]: ...

    async def remember(
        self,
        tenant: str,
        text: str,
        *,
        source: str,
        trace_id: str,
        capsule_id: str | None = None,
        session: str | None = None,
        turn: str | None = None,
        seq: int = 0,
        reason: str = "",
        request_id: str | None = None,
        wait_ms: int = 0,
    ) -> RememberReceipt: ...


class RequestClaims(Protocol):
    """The first turn a tenant's Idempotency-Key started
    (:class:`somagent.limits.idempotency.TurnRequestClaims`)."""

    async def first_turn(self, tenant: str, client_key: str, turn_id: str) -> str: ...


class ProgressStore(Protocol):
    """Where each turn's state lives between steps (keyed by turn id)."""

    def load(self, turn_id: str) -> dict[str, Any] | None: ...

    def save(self, turn_id: str, state: dict[str, Any]) -> None: ...


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class TurnDeps:
    """What the driver performs actions with."""

    planner: Planner
    broker: ToolBroker
    memory: TurnMemory
    prices: ev.UsagePrices
    session_policy: SessionPolicy = field(default_factory=SessionPolicy)
    timeouts: m.StepTimeouts = m.DEFAULT_TIMEOUTS
    requests: RequestClaims | None = None


class TurnDriver:
    """Runs turns to the end; one instance per worker process, shared by all turns."""

    def __init__(self, deps: TurnDeps, sink: EventSink, progress: ProgressStore) -> None:
        self.deps = deps
        self.sink = sink
        self.progress = progress
        self._cancels: dict[str, asyncio.Event] = {}

    # -- entry points -------------------------------------------------------

    async def on_requested(self, envelope: dict[str, Any]) -> None:
        """Start (or, when its state is stored, resume) the turn of a ``TurnRequested``."""
        turn_id = str(envelope["payload"]["turn_id"])
        stored = self.progress.load(turn_id)
        if stored is not None:
            t = m.resume(state_from_dict(stored), now_ms(), self.deps.timeouts)
        else:
            request = request_from_event(envelope)
            if now_ms() - request.deadline_at_ms > LATE_REQUEST_HORIZON_MS:
                # Unknown to this worker group and long past its deadline: history read
                # by a group that started at the log's beginning (its outcome, if any,
                # is already on the log), so it is skipped rather than failed twice.
                # A request reached late but within the horizon (the group was down,
                # Kafka was out) goes on: the machine fails it with deadline_exceeded,
                # so its client, still waiting or resuming, sees the turn end.
                log.info("skipping turn %s: its deadline passed over %d s ago and this "
                         "group has no state for it", turn_id, LATE_REQUEST_HORIZON_MS // 1000)
                return
            first = await self._first_turn(request, turn_id)
            duplicate_of = None if first == turn_id else first
            t = m.start(request, now_ms(), self.deps.timeouts, duplicate_of=duplicate_of)
        await self._run(t)

    async def _first_turn(self, request: TurnRequest, turn_id: str) -> str:
        """The turn that owns the request's Idempotency-Key (``turn_id`` without a key).

        Redis being down must not crash the agent (a crashed Faust agent drops the
        record it holds: the turn would never run). The claim is retried with backoff
        until the turn's deadline; past it the turn goes on unchecked, and the machine
        fails it with ``deadline_exceeded``.
        """
        if not request.idempotency_key or self.deps.requests is None:
            return turn_id
        delay_s = 0.1
        while True:
            try:
                return await self.deps.requests.first_turn(
                    request.tenant, request.idempotency_key, turn_id
                )
            except GuardUnavailable as exc:
                if now_ms() >= request.deadline_at_ms:
                    return turn_id
                log.warning("turn %s: Idempotency-Key claim unavailable (%s); retrying in "
                            "%.1f s", turn_id, exc, delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(2.0, delay_s * 2)

    def on_cancel(self, turn_id: str) -> bool:
        """Signal a running turn to stop; False when this process is not running it."""
        signal = self._cancels.get(turn_id)
        if signal is None:
            return False
        signal.set()
        return True

    def mark_cancelled(self, turn_id: str) -> None:
        """Record a cancel for a turn not running here, so a later resume fails it."""
        stored = self.progress.load(turn_id)
        if stored is not None and stored.get("step") not in (
            Step.COMPLETED.value,
            Step.FAILED.value,
        ):
            self.progress.save(turn_id, {**stored, "cancelled": True})

    # -- the loop -----------------------------------------------------------

    async def _commit(self, *transitions: m.Transition) -> TurnState:
        """Publish the transitions' events and usage in one batch, wait for the acks,
        then store the last state (the resume point)."""
        batch = [e.to_dict() for t in transitions for e in t.events]
        batch += [u.to_dict(self.deps.prices) for t in transitions for u in t.usage]
        if batch:
            await self.sink.publish(batch)
        last = transitions[-1].state
        self.progress.save(last.turn_id, state_to_dict(last))
        return last

    def _local(self, action: m.Action) -> bool:
        """Actions that do no I/O and recompute identically after a crash: the events
        before them need not be durable yet (see :meth:`_run`)."""
        if isinstance(action, m.RunAnswer):
            return True
        return isinstance(action, (m.RunPlan, m.RunVerify)) and self.deps.planner.local

    async def _run(self, t: m.Transition) -> None:
        """Drive the turn to its end.

        Transitions are published (and the state stored) before every action that
        does I/O or is not reproducible (recall, tool calls, remember, a remote
        planner) and at the end; runs of local actions (a pure planner's plan and
        answer, the answer step) are published together. A turn resumed after a
        crash recomputes its unpublished local steps from the stored state, giving
        the same events with the same deterministic ids.
        """
        turn_id = t.state.turn_id
        signal = self._cancels.setdefault(turn_id, asyncio.Event())
        try:
            pending = [t]
            while True:
                action = t.action
                if isinstance(action, m.Finish) or not self._local(action):
                    await self._commit(*pending)
                    pending = []
                if isinstance(action, m.Finish):
                    return
                t = await self._step(t.state, action, signal)
                pending.append(t)
        finally:
            self._cancels.pop(turn_id, None)

    async def _step(
        self, state: TurnState, action: m.Action, signal: asyncio.Event
    ) -> m.Transition:
        """Perform ``action`` bounded by its timeout and the cancel signal; its duration
        goes to ``somagent_turn_step_duration_seconds{step,outcome}``."""
        started = time.perf_counter()
        step = _STEP_NAMES.get(type(action), type(action).__name__)
        with tracing.span(f"turn.step {step}", attributes={"somagent.step": step}) as span:
            t = await self._bounded(state, action, signal)
            outcome = step_outcome(t)
            span.set_attribute("somagent.outcome", outcome)
        metrics.TURN_STEP_DURATION.labels(step, outcome).observe(time.perf_counter() - started)
        return t

    async def _bounded(
        self, state: TurnState, action: m.Action, signal: asyncio.Event
    ) -> m.Transition:
        if signal.is_set() or state.cancelled:
            return m.cancel(state, now_ms(), self.deps.timeouts, detail="cancel requested")
        timeout_s = max(0.001, getattr(action, "timeout_ms", 0) / 1000)
        holder: dict[str, TurnState] = {"state": state}
        work = asyncio.ensure_future(self._perform(holder, action))
        waiter = asyncio.ensure_future(signal.wait())
        try:
            done, _ = await asyncio.wait(
                {work, waiter}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        current = holder["state"]
        if work in done:
            try:
                return work.result()
            except Exception as exc:  # an adapter failed: the step fails, not the worker
                log.warning("turn %s step %s failed: %r", state.turn_id, state.step, exc)
                return m.on_step_error(
                    current, f"{type(exc).__name__}: {exc}", now_ms(), self.deps.timeouts
                )
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        if signal.is_set():
            return m.cancel(current, now_ms(), self.deps.timeouts, detail="cancel requested")
        return m.on_step_timeout(
            current,
            now_ms(),
            self.deps.timeouts,
            detail=f"{current.step.value} exceeded {timeout_s:.3f}s",
        )

    async def _perform(self, holder: dict[str, TurnState], action: m.Action) -> m.Transition:
        state = holder["state"]
        handler = _HANDLERS[type(action)]
        return await handler(self, holder, state, action)

    # -- one handler per action --------------------------------------------

    async def _recall(self, holder: dict[str, TurnState], state: TurnState, a: Any) -> m.Transition:
        # The brain's bundle (utility-ranked evidence) where the memory client has one.
        evaluate = getattr(self.deps.memory, "evaluate", None) or self.deps.memory.recall
        blocks = await evaluate(
            state.tenant,
            a.query,
            a.top_k,
            list(a.capsule_ids) if a.capsule_ids is not None else None,
        )
        evidence = [Evidence.from_block(b) for b in blocks]
        return m.on_recalled(state, evidence, now_ms(), self.deps.timeouts)

    async def _plan(self, holder: dict[str, TurnState], state: TurnState, a: Any) -> m.Transition:
        registry = self.deps.broker.registry
        decision = decide(state.allow_tools, self.deps.session_policy, registry.names())
        plan = await self.deps.planner.plan(
            state.text, registry.specs(list(decision.allowed)), state.evidence
        )
        return m.on_planned(
            state,
            plan,
            now_ms(),
            self.deps.timeouts,
            allowed_tools=decision.allowed,
            denials=decision.denied,
        )

    async def _tool(self, holder: dict[str, TurnState], state: TurnState, a: Any) -> m.Transition:
        async def on_delta(chunk_index: int, text: str) -> None:
            t = m.on_tool_delta(
                holder["state"], a.index, chunk_index, text, now_ms(), self.deps.timeouts
            )
            holder["state"] = await self._commit(t)

        result = await self.deps.broker.invoke(
            a.call,
            tenant=state.tenant,
            idem_key=a.idem_key,
            timeout_ms=a.timeout_ms,
            turn_id=state.turn_id,
            on_delta=on_delta,
            tools_per_min=state.tools_per_min,
            session=state.session_id,
        )
        return m.on_tool_result(holder["state"], result, now_ms(), self.deps.timeouts)

    async def _verify(self, holder: dict[str, TurnState], state: TurnState, a: Any) -> m.Transition:
        calls = state.plan.calls if state.plan else ()
        answer = await self.deps.planner.answer(
            state.text, state.evidence, state.tool_results, calls
        )
        problems = verify(answer, state.evidence, state.tool_results)
        return m.on_verified(state, answer, problems, now_ms(), self.deps.timeouts)

    async def _answer(self, holder: dict[str, TurnState], state: TurnState, a: Any) -> m.Transition:
        text = state.answer.text if state.answer else ""
        return m.on_answered(
            state, now_ms(), self.deps.timeouts, egress_bytes=len(text.encode("utf-8"))
        )

    async def _remember(
        self, holder: dict[str, TurnState], state: TurnState, a: Any
    ) -> m.Transition:
        answer = state.answer.text if state.answer else ""
        # The request id is the appended event's id: a resumed turn asks again with the
        # same id and the gateway's remember-guard decides it once.
        receipt = await self.deps.memory.remember(
            state.tenant,
            f"Q: {state.text}\nA: {answer}",
            source=f"turn:{state.turn_id}",
            trace_id=state.trace_id,
            session=state.session_id,
            turn=state.turn_id,
            seq=state.seq,
            reason="turn",
            request_id=str(stable_id("remember-request", state.turn_id)),
        )
        return m.on_remembered(
            state, [receipt.memory_id], receipt.size_bytes, now_ms(), self.deps.timeouts
        )


def step_outcome(t: m.Transition) -> str:
    """``ok``, or why the step ended the turn (``timeout``, ``cancelled``, ``error``)."""
    failure = t.state.failure
    if t.state.step is not Step.FAILED or failure is None:
        return "ok"
    if failure.reason in (FailureReason.STEP_TIMEOUT, FailureReason.DEADLINE_EXCEEDED):
        return "timeout"
    if failure.reason is FailureReason.CANCELLED:
        return "cancelled"
    return "error"


Handler = Callable[[TurnDriver, dict[str, TurnState], TurnState, Any], Awaitable[m.Transition]]
_STEP_NAMES: dict[type, str] = {
    m.RunRecall: "recall",
    m.RunPlan: "plan",
    m.RunToolCall: "tool",
    m.RunVerify: "verify",
    m.RunAnswer: "answer",
    m.RunRemember: "remember",
}
_HANDLERS: dict[type, Handler] = {
    m.RunRecall: TurnDriver._recall,
    m.RunPlan: TurnDriver._plan,
    m.RunToolCall: TurnDriver._tool,
    m.RunVerify: TurnDriver._verify,
    m.RunAnswer: TurnDriver._answer,
    m.RunRemember: TurnDriver._remember,
}
