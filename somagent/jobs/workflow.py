"""The job workflow: runs a job's DAG on Temporal and decides every job event.

Guarantees (Temporal replays this code deterministically after any crash):

* **Order**: a step starts once every step it depends on completed; ready steps start
  together (parallel branches), in spec order.
* **Events**: every event is built here with the job's next ``seq`` and appended by the
  ``job.emit`` local activity before the workflow goes on, one at a time, so a job's
  events reach the log in ``seq`` order. A re-run after a crash appends the same ids.
* **Completion once**: a step's ``JobStepCompleted`` is emitted only after its result is
  recorded in the workflow history, so however often an activity is retried there is
  one completion per step.
* **SAGA**: when a step fails for good or the job is cancelled, the steps still running
  are cancelled and the completed steps' compensations run one by one in reverse
  completion order, each with its own retry policy. A compensation that still fails is
  reported (``JobCompensated`` ok=false) and the job ends ``JobFailed`` naming it;
  otherwise a cancelled job ends ``JobCancelled`` and a failed one ``JobFailed`` naming
  the step that failed.
* **Approvals** wait for the ``decide`` update (validated: only a step that is waiting
  can be decided) or their timeout, whose policy decides.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from somagent.contract import names
    from somagent.jobs import events as ev
    from somagent.jobs import messages as msg
    from somagent.jobs.dag import ready
    from somagent.jobs.spec import (
        ApprovalAction,
        Compensation,
        JobSpec,
        StepSpec,
        SubJobAction,
        ToolAction,
        TurnAction,
        build_spec,
    )
    from somagent.jobs.steps import StepError, activity_failure

EMIT_TIMEOUT = timedelta(seconds=30)
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
#: Failures that retrying cannot fix.
PERMANENT = ["unknown-tool", "invalid-arguments", "in-doubt", "budget-exhausted",
             "tool-not-allowed"]


@dataclass
class _Outcome:
    ok: bool
    reason: str = ""
    message: str = ""
    step: str = ""


def retry_policy(spec_retry: Any) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=spec_retry.initial_interval_s),
        backoff_coefficient=spec_retry.backoff,
        maximum_interval=timedelta(seconds=spec_retry.max_interval_s),
        maximum_attempts=spec_retry.max_attempts,
        non_retryable_error_types=PERMANENT,
    )


@workflow.defn(name=msg.WORKFLOW)
class JobWorkflow:
    def __init__(self) -> None:
        self._seq = 0
        self._emit_lock = asyncio.Lock()
        self._status: dict[str, str] = {}
        self._decisions: dict[str, msg.ApprovalDecision] = {}
        self._cancel: msg.CancelRequest | None = None
        self._ending = False
        self._completed: list[str] = []
        self._outputs: dict[str, Any] = {}

    # -- entry point ------------------------------------------------------------

    @workflow.run
    async def run(self, job: msg.JobInput) -> dict[str, Any]:
        self.job = job
        self.ref = ev.JobRef(job.job_id, job.tenant, job.trace_id)
        self.spec: JobSpec = build_spec(job.spec)
        self._status = {s.name: "pending" for s in self.spec.steps}
        self._seq = job.first_seq
        if job.first_seq == 0:
            await self._submitted()
        failure = await self._run_dag()
        self._ending = True
        return await self._finish(failure)

    async def _submitted(self) -> None:
        spec_json = ev.canonical_json(self.job.spec)
        await self._emit(
            names.JOB_SUBMITTED, name=self.spec.name, spec_json=spec_json,
            spec_sha256=ev.spec_digest(spec_json), session_id=self.ref.session,
            submitted_by=self.job.submitted_by, steps=list(self.spec.names),
            budget_tokens=self.spec.budget_tokens, idempotency_key=self.job.idempotency_key,
            parent_job_id=self.job.parent_job_id, parent_step=self.job.parent_step,
            workflow_id=workflow.info().workflow_id,
        )

    # -- messages ------------------------------------------------------------------

    @workflow.update(name=msg.UPDATE_DECIDE)
    def decide(self, req: msg.ApprovalDecision) -> dict[str, Any]:
        self._decisions[req.step] = req
        return {"step": req.step, "decision": "approved" if req.approve else "rejected",
                "principal": req.principal}

    @decide.validator
    def _validate_decide(self, req: msg.ApprovalDecision) -> None:
        status = self._status.get(req.step)
        if status is None:
            raise ApplicationError(f"job {self.job.job_id} has no step {req.step!r}",
                                   type=msg.NO_SUCH_STEP)
        if status != "waiting" or req.step in self._decisions or self._cancel is not None:
            state = "decided" if req.step in self._decisions else status
            raise ApplicationError(
                f"step {req.step!r} of job {self.job.job_id} is not waiting for an approval "
                f"(it is {state}{', the job is being cancelled' if self._cancel else ''})",
                type=msg.NOT_WAITING)

    @workflow.update(name=msg.UPDATE_CANCEL)
    def cancel(self, req: msg.CancelRequest) -> dict[str, Any]:
        self._cancel = req
        return {"job_id": self.job.job_id, "status": "cancelling"}

    @cancel.validator
    def _validate_cancel(self, req: msg.CancelRequest) -> None:
        if self._cancel is not None or self._ending:
            state = "being cancelled" if self._cancel is not None else "finishing"
            raise ApplicationError(f"job {self.job.job_id} is {state}", type=msg.NOT_RUNNING)

    @workflow.query(name=msg.QUERY_STATE)
    def state(self) -> dict[str, Any]:
        return {"job_id": self.job.job_id, "steps": dict(self._status),
                "completed_order": list(self._completed),
                "cancelling": self._cancel is not None, "ending": self._ending}

    # -- events ---------------------------------------------------------------------

    def _now_us(self) -> int:
        return workflow.time_ns() // 1000

    async def _emit(self, event_type: str, /, **payload: Any) -> None:
        async with self._emit_lock:
            event = ev.job_event(self.ref, event_type, self._seq, self._now_us(), **payload)
            self._seq += 1
            await workflow.execute_local_activity(
                msg.EMIT, [event], start_to_close_timeout=EMIT_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
            )

    # -- the DAG ----------------------------------------------------------------------

    async def _run_dag(self) -> _Outcome | None:
        order = list(self.spec.names)
        deps = {s.name: s.depends_on for s in self.spec.steps}
        tasks: dict[str, asyncio.Task[_Outcome]] = {}
        started: set[str] = set()
        failure: _Outcome | None = None
        cancel_seen = asyncio.create_task(workflow.wait_condition(lambda: self._cancel is not None))
        while True:
            if failure is None and self._cancel is None:
                for name in ready(order, deps, self._completed, started):
                    started.add(name)
                    tasks[name] = asyncio.create_task(self._step(self.spec.step(name)))
            if not tasks:
                break
            waiting = [*tasks.values(), *([] if cancel_seen.done() else [cancel_seen])]
            try:
                await workflow.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:  # the workflow itself was cancelled in Temporal
                self._cancel = self._cancel or msg.CancelRequest("workflow cancelled", "temporal")
            for name, task in list(tasks.items()):
                if task.done():
                    del tasks[name]
                    outcome = task.result()
                    if outcome.ok:
                        self._completed.append(name)
                    elif failure is None and self._cancel is None:
                        failure = _Outcome(False, outcome.reason, outcome.message, name)
            if failure is not None or self._cancel is not None:
                for task in tasks.values():
                    task.cancel()
        cancel_seen.cancel()
        return failure

    async def _step(self, step: StepSpec) -> _Outcome:
        started_us = self._now_us()
        self._status[step.name] = "waiting" if step.kind == "approval" else "running"
        await self._emit(names.JOB_STEP_STARTED, step=step.name, kind=step.kind,
                         **self._started_fields(step))
        attempts = 1
        try:
            output, attempts = await self._perform(step)
        except StepError as exc:
            return await self._step_failed(step, started_us, exc.reason, exc.message,
                                           exc.attempts)
        except asyncio.CancelledError:
            return await self._step_failed(step, started_us, "cancelled",
                                           "the job stopped before the step finished", attempts)
        self._status[step.name] = "completed"
        self._outputs[step.name] = output
        await self._emit(names.JOB_STEP_COMPLETED, step=step.name, kind=step.kind,
                         output_json=ev.output_json(output),
                         duration_ms=(self._now_us() - started_us) // 1000, attempts=attempts)
        return _Outcome(True)

    async def _step_failed(self, step: StepSpec, started_us: int, reason: str, message: str,
                           attempts: int) -> _Outcome:
        self._status[step.name] = "failed"
        await self._emit(names.JOB_STEP_FAILED, step=step.name, kind=step.kind,
                         reason_code=reason, message=message[:4000],
                         duration_ms=(self._now_us() - started_us) // 1000, attempts=attempts)
        return _Outcome(False, reason, message)

    def _started_fields(self, step: StepSpec) -> dict[str, Any]:
        job = self.job.job_id
        return {
            "turn_id": ev.turn_id(job, "step", step.name, 0) if step.kind == "turn" else None,
            "child_job_id": ev.child_job_id(job, step.name) if step.kind == "job" else None,
            "idempotency_key": ev.tool_idem_key(job, "step", step.name)
            if step.kind == "tool" else None,
            "timeout_ms": int(step.timeout_s * 1000),
            "max_attempts": step.retry.max_attempts,
        }

    # -- actions ----------------------------------------------------------------------

    async def _perform(self, step: StepSpec) -> tuple[Any, int]:
        action = step.action
        if isinstance(action, ApprovalAction):
            return await self._approval(step.name, action), 1
        if isinstance(action, SubJobAction):
            return await self._sub_job(step, action), 1
        assert isinstance(action, TurnAction | ToolAction)
        return await self._activity("step", step.name, action, step.timeout_s, step.retry)

    async def _activity(self, purpose: str, name: str, action: TurnAction | ToolAction,
                        timeout_s: float, retry: Any) -> tuple[Any, int]:
        arg: msg.TurnCall | msg.ToolCallArgs
        if isinstance(action, TurnAction):
            activity, arg = msg.TURN, msg.TurnCall(
                self.job.job_id, self.job.tenant, self.job.trace_id, purpose, name,
                action.text, list(action.tools), action.memory,
                deadline_ms=int(timeout_s * 1000), budget_tokens=self.spec.budget_tokens)
        else:
            activity, arg = msg.TOOL, msg.ToolCallArgs(
                self.job.job_id, self.job.tenant, self.job.trace_id, purpose, name,
                action.tool, dict(action.arguments), timeout_ms=int(timeout_s * 1000))
        try:
            result = await workflow.execute_activity(
                activity, arg, result_type=dict,
                start_to_close_timeout=timedelta(seconds=timeout_s + 5.0),
                heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=retry_policy(retry),
            )
        except Exception as exc:
            raise activity_failure(exc, retry.max_attempts) from exc
        return result["output"], int(result.get("attempt", 1))

    async def _approval(self, name: str, action: ApprovalAction) -> dict[str, Any]:
        timeout_ms = int(action.timeout_s * 1000)
        await self._emit(names.JOB_APPROVAL_REQUESTED, step=name, prompt=action.prompt,
                         timeout_ms=timeout_ms, on_timeout=action.on_timeout,
                         deadline=self._now_us() + timeout_ms * 1000)
        try:
            await workflow.wait_condition(lambda: name in self._decisions,
                                          timeout=timedelta(seconds=action.timeout_s))
            d = self._decisions[name]
            approved, principal, comment, by_timeout = d.approve, d.principal, d.comment, False
        except TimeoutError:
            approved, principal, by_timeout = action.on_timeout == "approve", "timeout", True
            comment = f"no decision within {action.timeout_s:g}s: {action.on_timeout}"
            self._decisions[name] = msg.ApprovalDecision(name, approved, principal, comment)
        decision = "approved" if approved else "rejected"
        await self._emit(names.JOB_APPROVAL_GIVEN, step=name, decision=decision,
                         principal=principal, comment=comment, by_timeout=by_timeout)
        if not approved:
            raise StepError("rejected", f"approval rejected by {principal}: {comment}", 1)
        return {"decision": decision, "principal": principal, "comment": comment}

    async def _sub_job(self, step: StepSpec, action: SubJobAction) -> dict[str, Any]:
        child = ev.child_job_id(self.job.job_id, step.name)
        result: dict[str, Any] = await workflow.execute_child_workflow(
            msg.WORKFLOW,
            msg.JobInput(child, self.job.tenant, self.job.trace_id, dict(action.document),
                         self._now_us(), f"job:{self.job.job_id}", first_seq=0,
                         parent_job_id=self.job.job_id, parent_step=step.name),
            id=msg.workflow_id(child), result_type=dict,
            execution_timeout=timedelta(seconds=step.timeout_s) if step.timeout_s else None,
        )
        if result.get("status") != "completed":
            raise StepError("sub-job-failed", f"sub-job {child} ended {result.get('status')}: "
                            f"{result.get('message', '')}", 1)
        return {"job_id": child, "status": "completed", "outputs": result.get("outputs", {})}

    # -- the end ----------------------------------------------------------------------

    async def _compensate(self, trigger: str) -> tuple[list[str], list[str]]:
        done: list[str] = []
        failed: list[str] = []
        todo = [s for s in reversed(self._completed) if self.spec.step(s).compensate]
        for order, name in enumerate(todo):
            comp: Compensation | None = self.spec.step(name).compensate
            assert comp is not None
            try:
                output, attempts = await self._activity("compensate", name, comp.action,
                                                        comp.timeout_s, comp.retry)
            except StepError as exc:
                failed.append(name)
                await self._emit(names.JOB_COMPENSATED, step=name, ok=False, trigger=trigger,
                                 order=order, output_json="null",
                                 message=f"{exc.reason}: {exc.message}"[:4000],
                                 attempts=exc.attempts)
                continue
            done.append(name)
            await self._emit(names.JOB_COMPENSATED, step=name, ok=True, trigger=trigger,
                             order=order, output_json=ev.output_json(output), attempts=attempts)
        return done, failed

    async def _finish(self, failure: _Outcome | None) -> dict[str, Any]:
        if failure is None and self._cancel is None:
            await self._emit(names.JOB_COMPLETED, duration_ms=self._elapsed_ms(),
                             steps=len(self._completed))
            return {"status": "completed", "outputs": self._outputs}
        compensated, failed = await self._compensate("cancel" if self._cancel else "failure")
        if failed:
            after = f" (after step {failure.step} failed: {failure.message})" if failure else ""
            failure = _Outcome(False, "compensation-failed",
                               f"the compensation of {', '.join(failed)} failed after its "
                               f"retries{after}", failed[0])
        if failure is not None:
            await self._emit(names.JOB_FAILED, step=failure.step, reason_code=failure.reason,
                             message=failure.message[:4000], compensated=compensated,
                             compensation_failed=failed, duration_ms=self._elapsed_ms())
            return {"status": "failed", "step": failure.step, "reason_code": failure.reason,
                    "message": failure.message}
        assert self._cancel is not None
        await self._emit(names.JOB_CANCELLED, reason=self._cancel.reason,
                         principal=self._cancel.principal, compensated=compensated,
                         duration_ms=self._elapsed_ms())
        return {"status": "cancelled", "compensated": compensated}

    def _elapsed_ms(self) -> int:
        return max(0, (self._now_us() - self.job.submitted_us) // 1000)
