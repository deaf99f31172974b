"""The tool broker: validate, guard, run with limits, retry, check the result.

:meth:`ToolBroker.invoke` turns one planned call into a
:class:`~somagent.turns.state.ToolResult` and never raises for anything the
tool or its input does:

1. unknown tool → ``unknown-tool``; arguments failing the args schema →
   ``invalid-arguments`` with every problem listed (the call fails, not the turn);
   the session's constitution policy may refuse (``policy-denied`` naming the
   policy hash and rule, ``policy-unavailable`` when OPA does not answer; decided by
   OPA, see :mod:`somagent.policy.tool_gate`); the rate/budget gate may refuse
   (``rate-limit``, ``budget``; the rate is the session's ``tools_per_min`` capped
   by the tenant's plan);
2. side-effect tools claim their idempotency key (``idem:{tool}:{key}``, 24 h)
   first; a key already claimed returns the recorded result, or
   ``in-doubt`` if an earlier attempt started but never recorded one — a side
   effect never runs twice;
3. the call is placed on one of the tool's instances whose circuit breaker *for
   this tenant* admits it; when none does, ``circuit-open``. Breakers are kept
   per (tenant, instance) and count only infrastructure failures
   (``ToolExecutionError.infrastructure``, a timeout of the broker's own, an
   exception escaping the tool): a tenant's program that exits non-zero, or SQL
   the engine refuses, is that tenant's failure and never refuses anyone's calls;
4. the executor runs under ``min(spec.timeout_s, the call's remaining budget)``:
   when the tool's own limit is the binding one, the tool is told ``GRACE_S`` less
   (``ctx.timeout_s``) so that it can end a caller's over-long program itself and
   report it as the caller's failure, and the broker's own timeout (an
   infrastructure failure) only catches a tool that does not answer; when the
   caller's deadline binds, running out of time is the caller's. Idempotent tools
   are retried on transient infrastructure failures with exponential backoff
   inside that budget;
5. the output is checked against the result schema (``schema_ok``), and must
   be JSON (``bad-output`` otherwise).

Output chunks reach ``on_delta(chunk_index, text)`` as the tool produces them;
an exception raised by ``on_delta`` (the caller's own failure, e.g. the log is
unreachable) stops the tool and propagates from :meth:`ToolBroker.invoke`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from somagent.contract.ids import redis_idem_key
from somagent.telemetry import metrics, tracing
from somagent.tools import breaker as cb
from somagent.tools.exceptions import ToolExecutionError, UnknownTool
from somagent.tools.gates import GateDecision
from somagent.tools.instances import InstancePool, instance_ids
from somagent.tools.policy import ToolPolicy, egress_hosts
from somagent.tools.registry import ToolRegistry
from somagent.tools.spec import Tool, ToolContext
from somagent.tools.validation import errors
from somagent.turns.state import INVALID_JSON_KEY, ToolCall, ToolResult

IDEMPOTENCY_TTL_S: Final = 24 * 3600
_STARTED: Final = "started"
#: How much sooner than the broker's own timeout a tool is asked to finish
#: (seconds: at most this, and at most a tenth of the call's budget).
GRACE_S: Final = 1.0

ChunkSink = Callable[[int, str], Awaitable[None]]


class Gate(Protocol):
    """Rate/budget admission per tenant and tool (:class:`somagent.tools.gates.RedisGate`)."""

    async def admit(
        self,
        tenant: str,
        tool: str,
        rate_class: str,
        key: str,
        units: float = 1.0,
        tools_per_min: int | None = None,
    ) -> GateDecision: ...


class IdempotencyStore(Protocol):
    """Where side-effect calls record that they ran (Redis in production)."""

    async def claim(self, key: str, ttl_s: int) -> bool:
        """Atomically create ``key`` (value ``"started"``) if absent; True if created."""
        ...

    async def load(self, key: str) -> str | None: ...

    async def store(self, key: str, value: str, ttl_s: int) -> None: ...


class _SinkFailed(Exception):
    """The caller's ``on_delta`` raised; re-raised as the original, never a tool failure."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


@dataclass(frozen=True)
class _Outcome:
    """One attempt's result and whether a failure is the infrastructure's (counts
    against the breaker, may be retried) rather than the caller's."""

    result: ToolResult
    infrastructure: bool = False


def _failed(call: ToolCall, code: str, message: str, started_ms: int, now_ms: int) -> ToolResult:
    return ToolResult(
        call.index,
        call.tool,
        False,
        None,
        code,
        message,
        duration_ms=max(0, now_ms - started_ms),
        call_id=call.call_id,
    )


def _record(result: ToolResult) -> str:
    return json.dumps(result.to_dict(), sort_keys=True)


def _from_record(call: ToolCall, raw: str) -> ToolResult | None:
    try:
        d = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(d, dict) or "ok" not in d:
        return None
    return ToolResult(
        call.index,
        call.tool,
        bool(d["ok"]),
        d.get("output"),
        str(d.get("error_code", "")),
        str(d.get("error", "")),
        bool(d.get("schema_ok", True)),
        int(d.get("duration_ms", 0)),
        d.get("exit_code"),
        call.call_id,
    )


@dataclass
class ToolBroker:
    """Runs tool calls for the turn engine (see the module doc). One per worker."""

    registry: ToolRegistry
    idempotency: IdempotencyStore | None = None
    gate: Gate | None = None
    policy: ToolPolicy | None = None
    breaker_config: cb.BreakerConfig = field(default_factory=cb.BreakerConfig)
    retry: cb.RetryPolicy = field(default_factory=cb.RetryPolicy)
    clock_ms: Callable[[], int] = _monotonic_ms
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    #: (tenant, instance id) → breaker; only breakers that are not closed-and-clean
    #: are kept, so the map holds tenants with recent infrastructure failures only.
    breakers: dict[tuple[str, str], cb.Breaker] = field(default_factory=dict)
    instances: InstancePool = field(default_factory=InstancePool)

    async def invoke(
        self,
        call: ToolCall,
        *,
        tenant: str,
        idem_key: str,
        timeout_ms: int,
        turn_id: str = "",
        on_delta: ChunkSink | None = None,
        tools_per_min: int | None = None,
        session: str | None = None,
    ) -> ToolResult:
        """Run ``call`` for ``tenant`` within ``timeout_ms``; see the module doc.
        ``tools_per_min``: the session's rate from the turn request, for the gate;
        ``session``: whose policy decides the call (None: the default policy).
        Its duration goes to ``somagent_tool_call_duration_seconds{tool,outcome}``."""
        started_s = time.perf_counter()
        outcome = "error"
        try:
            with tracing.span(f"tool {call.tool}", attributes={"somagent.tool": call.tool,
                                                              "somagent.call_id": call.call_id}
                              ) as span:
                result = await self._invoke(call, tenant=tenant, idem_key=idem_key,
                                            timeout_ms=timeout_ms, turn_id=turn_id,
                                            on_delta=on_delta, tools_per_min=tools_per_min,
                                            session=session)
                outcome = "ok" if result.ok else (result.error_code or "error")
                span.set_attribute("somagent.outcome", outcome)
            return result
        finally:
            # A name the registry does not know is the planner's text: not a label value.
            tool = "(unknown)" if outcome == "unknown-tool" else call.tool
            metrics.TOOL_CALL_DURATION.labels(tool, outcome).observe(
                time.perf_counter() - started_s)

    async def _invoke(
        self,
        call: ToolCall,
        *,
        tenant: str,
        idem_key: str,
        timeout_ms: int,
        turn_id: str,
        on_delta: ChunkSink | None,
        tools_per_min: int | None,
        session: str | None = None,
    ) -> ToolResult:
        started = self.clock_ms()
        try:
            tool = self.registry.get(call.tool)
        except UnknownTool as exc:
            return _failed(call, "unknown-tool", str(exc), started, self.clock_ms())
        if INVALID_JSON_KEY in call.arguments:
            raw = str(call.arguments[INVALID_JSON_KEY])[:300]
            msg = f"{call.tool}: the planner's arguments are not a JSON object: {raw}"
            return _failed(call, "invalid-arguments", msg, started, self.clock_ms())
        problems = errors(tool.spec.args_schema, dict(call.arguments), "argument")
        if problems:
            msg = f"{call.tool}: invalid arguments: " + "; ".join(problems)
            return _failed(call, "invalid-arguments", msg, started, self.clock_ms())
        if self.policy is not None:
            refusal = await self.policy.check(
                tenant=tenant, session=session, turn_id=turn_id, tool=tool.name,
                arguments=call.arguments,
                egress_hosts=egress_hosts(tool.spec.egress_url_arg, call.arguments))
            if refusal is not None:
                return _failed(call, refusal.code, refusal.message, started, self.clock_ms())
        if self.gate is not None:
            decision = await self.gate.admit(
                tenant, tool.name, tool.spec.rate_class, idem_key, tools_per_min=tools_per_min
            )
            if not decision.admitted:
                msg = (
                    f"{tool.name}: {decision.code} for tenant {tenant}; "
                    f"retry after {decision.retry_after_ms} ms"
                )
                return _failed(call, decision.code, msg, started, self.clock_ms())
        key = redis_idem_key(call.tool, idem_key)
        guarded = tool.spec.side_effect and self.idempotency is not None
        if guarded:
            previous = await self._previous(call, key, started)
            if previous is not None:
                return previous
        result = await self._attempts(tool, call, tenant, turn_id, idem_key, timeout_ms, on_delta)
        if guarded and self.idempotency is not None:
            await self.idempotency.store(key, _record(result), IDEMPOTENCY_TTL_S)
        return result

    async def _previous(self, call: ToolCall, key: str, started: int) -> ToolResult | None:
        assert self.idempotency is not None
        if await self.idempotency.claim(key, IDEMPOTENCY_TTL_S):
            return None
        raw = await self.idempotency.load(key)
        if raw is not None and raw != _STARTED:
            recorded = _from_record(call, raw)
            if recorded is not None:
                return recorded
        return _failed(
            call,
            "in-doubt",
            f"{call.tool}: an earlier attempt of this call ({key}) started without recording "
            "a result; a side-effect tool is never run twice",
            started,
            self.clock_ms(),
        )

    def _place(self, tool: Tool, call: ToolCall, tenant: str, now: int) -> str | None:
        """The instance this call runs on (its breaker for ``tenant`` admits it and has
        recorded the admission), or None when every instance's breaker refuses."""
        cfg = self.breaker_config
        closed = cb.Breaker()
        refused = frozenset(
            iid
            for iid in instance_ids(tool.spec)
            if not cb.admits(self.breakers.get((tenant, iid), closed), cfg, now)
        )
        if len(refused) == tool.spec.instances:
            return None
        instance = self.instances.place(tool.spec, call, refused)
        _, state = cb.allow(self.breakers.get((tenant, instance), closed), cfg, now)
        self._keep(tenant, instance, state)
        return instance

    def _keep(self, tenant: str, instance: str, state: cb.Breaker) -> None:
        if state == cb.Breaker():
            self.breakers.pop((tenant, instance), None)
        else:
            self.breakers[(tenant, instance)] = state

    def _settle(self, tenant: str, instance: str, infrastructure_failure: bool) -> None:
        """Record one attempt's outcome in the (tenant, instance) breaker."""
        now = self.clock_ms()
        b = self.breakers.get((tenant, instance), cb.Breaker())
        record = cb.record_failure if infrastructure_failure else cb.record_success
        self._keep(tenant, instance, record(b, self.breaker_config, now))

    async def _attempts(
        self,
        tool: Tool,
        call: ToolCall,
        tenant: str,
        turn_id: str,
        idem_key: str,
        timeout_ms: int,
        on_delta: ChunkSink | None,
    ) -> ToolResult:
        started = self.clock_ms()
        deadline = started + timeout_ms
        delays = cb.backoff_schedule(self.retry)
        chunks = 0

        async def emit(text: str) -> None:
            nonlocal chunks
            if on_delta is not None:
                try:
                    await on_delta(chunks, text)
                except Exception as exc:
                    raise _SinkFailed(exc) from exc
            chunks += 1

        attempt = 0
        while True:
            attempt += 1
            now = self.clock_ms()
            instance = self._place(tool, call, tenant, now)
            if instance is None:
                msg = f"{tool.name}: circuit breaker is open for tenant {tenant}"
                return _failed(call, "circuit-open", msg, started, now)
            remaining_s = max(0, deadline - now) / 1000
            budget_s = min(tool.spec.timeout_s, remaining_s)
            ctx = ToolContext(tenant, budget_s, turn_id, call.call_id, idem_key, emit, instance)
            try:
                outcome = await self._once(
                    tool, call, ctx, started, tool_bound=tool.spec.timeout_s <= remaining_s
                )
            except BaseException:
                self.instances.record(instance, self.clock_ms() - now, False)
                raise
            infra_failure = not outcome.result.ok and outcome.infrastructure
            self.instances.record(instance, self.clock_ms() - now, not infra_failure)
            self._settle(tenant, instance, infra_failure)
            result = outcome.result
            if result.ok or not cb.should_retry(
                tool.spec.idempotent, result.error_code, attempt, self.retry, infra_failure
            ):
                return result
            delay_ms = delays[attempt - 1]
            if self.clock_ms() + delay_ms >= deadline:
                return result
            await self.sleep(delay_ms / 1000)

    async def _once(
        self, tool: Tool, call: ToolCall, ctx: ToolContext, started: int, *, tool_bound: bool
    ) -> _Outcome:
        """One attempt; ``ctx.timeout_s`` is the broker's hard limit.

        ``tool_bound``: the tool's own time limit, not the caller's deadline, bounds
        the call. Then the tool is told ``GRACE_S`` less (it can end a caller's
        over-long program itself, as the caller's failure) and the broker's own
        timeout means the tool did not answer: an infrastructure failure. When the
        caller's deadline bounds it, running out of time is the caller's.
        """
        hard_s = ctx.timeout_s
        if hard_s <= 0:
            msg = f"{tool.name}: no time left for the call"
            return _Outcome(_failed(call, "timeout", msg, started, self.clock_ms()))
        told = replace(ctx, timeout_s=hard_s - min(GRACE_S, hard_s / 10)) if tool_bound else ctx
        try:
            output = await asyncio.wait_for(tool.execute(dict(call.arguments), told), hard_s)
        except TimeoutError:
            msg = f"{tool.name}: no result within {hard_s:.3g} s"
            return _Outcome(_failed(call, "timeout", msg, started, self.clock_ms()), tool_bound)
        except _SinkFailed as exc:
            raise exc.original from None
        except ToolExecutionError as exc:
            failed = _failed(call, exc.code, exc.message, started, self.clock_ms())
            return _Outcome(failed, exc.infrastructure)
        except Exception as exc:  # a tool's own bug must not take the worker down
            msg = f"{tool.name}: {type(exc).__name__}: {exc}"
            return _Outcome(_failed(call, "crashed", msg, started, self.clock_ms()), True)
        try:
            output = json.loads(json.dumps(output))
        except (TypeError, ValueError) as exc:
            msg = f"{tool.name}: output is not JSON: {exc}"
            return _Outcome(_failed(call, "bad-output", msg, started, self.clock_ms()), True)
        schema_ok = not errors(tool.spec.result_schema, output, "result")
        exit_code = output.get("exit_code") if isinstance(output, Mapping) else None
        return _Outcome(
            ToolResult(
                call.index,
                call.tool,
                True,
                output,
                schema_ok=schema_ok,
                duration_ms=max(0, self.clock_ms() - started),
                exit_code=exit_code if isinstance(exit_code, int) else None,
                call_id=call.call_id,
            )
        )
