"""``/v1/jobs``: submit, read, stream, approve, cancel and list jobs; plan a roadmap.

Tenancy and auth as for turns: a session token; another tenant's job answers exactly
like a missing one (404 ``job-not-found``). A new job passes, in order: token (401),
body (415/413/400), the job spec (422 ``invalid-job-spec`` listing every problem with
its JSON pointer: schema, cycles, unknown steps, unknown tools, tool arguments), the
workflow service (503), the Idempotency-Key (same job again, or 409 for another body).
Nothing is appended or started before all of them pass. Then ``JobSubmitted`` is
appended (seq 0) and the workflow started; should the start fail, ``JobFailed``
(``not-started``) is appended and the answer is 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from somagent.api.auth import canonical_uuid, session_token
from somagent.api.bodies import read_json
from somagent.api.call import Call, endpoint
from somagent.api.job_log import job_stream, job_view, last_event_id
from somagent.api.jobs_edge import JobRecord, JobsEdge, as_json, jobs_edge, unavailable
from somagent.api.problems import Problem, throttled
from somagent.api.sse import MEDIA_TYPE
from somagent.contract import names
from somagent.events.envelope import now_us
from somagent.jobs import events as ev
from somagent.jobs import messages as msg
from somagent.jobs.exceptions import InvalidJobSpec, InvalidRoadmap
from somagent.jobs.plan import plan_text
from somagent.jobs.schema import APPROVAL_REQUEST, JOB_CANCEL_REQUEST, PLAN_REQUEST
from somagent.jobs.spec import JobSpec
from somagent.jobs.tool_catalog import tool_arg_schemas
from somagent.jobs.validate import check_spec
from somagent.limits.idempotency import idem_key

#: The body of POST /v1/jobs: the spec itself is checked by ``check_spec``.
JOB_BODY: dict[str, Any] = {"type": "object", "additionalProperties": False,
                            "required": ["spec"], "properties": {"spec": {"type": "object"}}}
UPDATE_TIMEOUT = timedelta(seconds=15)
_IDEM_WAIT_S = 10.0
STATUSES = ("running", "completed", "failed", "cancelled")


def _spec(doc: Any) -> JobSpec:
    try:
        return check_spec(doc, tool_arg_schemas())
    except InvalidJobSpec as exc:
        errors = [{"pointer": f"/spec{p.pointer}", "message": p.message} for p in exc.problems]
        raise Problem("invalid-job-spec", str(exc), errors=errors) from exc


def _created(record: JobRecord, status: int, replayed: bool = False) -> Response:
    headers = {"Location": f"/v1/jobs/{record.job_id}", "X-Job-Id": record.job_id}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse({"job_id": record.job_id,
                         "workflow_id": msg.workflow_id(record.job_id),
                         "events": f"/v1/jobs/{record.job_id}/logs"},
                        status_code=status, headers=headers)


async def _replay(jobs: JobsEdge, claimed: str, digest: str, spec: dict[str, Any],
                  idem: str, queue: str) -> Response:
    """The job an earlier request with this key submitted; its workflow is started again
    (a no-op when it runs) in case that request died between appending and starting."""
    prior = json.loads(claimed)
    if prior.get("request_sha256") != digest:
        raise Problem("idempotency-key-reused",
                      "Idempotency-Key was already used with a different request body")
    deadline = time.monotonic() + _IDEM_WAIT_S
    while (record := await jobs.get(prior["job_id"])) is None:
        if time.monotonic() > deadline:
            raise throttled("rate-limited", "the first request with this key is in flight", 1)
        await asyncio.sleep(0.05)
    try:
        await _start(await jobs.client(), record, spec, idem, queue)
    except RPCError as exc:
        raise unavailable(f"job {record.job_id} could not be started: {exc}") from exc
    return _created(record, 200, replayed=True)


async def _start(client: Any, record: JobRecord, spec: dict[str, Any], idem: str | None,
                 queue: str) -> None:
    """Start the job's workflow; one already started (same workflow id) is left alone."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            msg.WORKFLOW, msg.JobInput(record.job_id, record.tenant, record.trace_id, spec,
                                       record.submitted_us, record.submitted_by,
                                       idempotency_key=idem),
            id=msg.workflow_id(record.job_id), task_queue=queue)


@endpoint("/v1/jobs")
async def post_job(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)
    ctx = call.ctx
    body = await read_json(request, JOB_BODY, ctx.edge.max_body_bytes)
    spec = _spec(body["spec"])
    idem = request.headers.get("idempotency-key")
    if idem is not None and not 1 <= len(idem) <= 255:
        raise Problem("invalid-body", "Idempotency-Key must be 1..255 characters")
    jobs = await jobs_edge(request.app)
    client = await jobs.client()
    spec_json = ev.canonical_json(body["spec"])
    digest = hashlib.sha256(spec_json.encode()).hexdigest()
    job_id = str(uuid.uuid4())
    claim_key = idem_key("job", claims.tenant, idem) if idem else None
    claim_value = as_json({"job_id": job_id, "request_sha256": digest})
    if claim_key is not None:
        claimed = await ctx.idempotency.claim(claim_key, claim_value, ctx.edge.idempotency_ttl_s)
        if claimed is not None:
            assert idem is not None
            return await _replay(jobs, claimed, digest, body["spec"], idem,
                                 ctx.settings.temporal_task_queue)
    ref = ev.JobRef(job_id, claims.tenant, call.trace_id)
    submitted_us = now_us()
    try:
        partition, offset = await ctx.appender.append(ev.job_event(
            ref, names.JOB_SUBMITTED, 0, submitted_us, name=spec.name, spec_json=spec_json,
            spec_sha256=digest, session_id=ref.session, submitted_by=call.principal,
            steps=list(spec.names), budget_tokens=spec.budget_tokens, idempotency_key=idem,
            parent_job_id=None, parent_step=None, workflow_id=msg.workflow_id(job_id)))
    except BaseException:
        if claim_key is not None:
            await ctx.idempotency.release(claim_key, claim_value)
        raise
    record = JobRecord(job_id, claims.tenant, call.principal, call.trace_id, partition, offset,
                       submitted_us)
    await jobs.put(record)
    try:
        await _start(client, record, body["spec"], idem, ctx.settings.temporal_task_queue)
    except RPCError as exc:
        await ctx.appender.append(ev.job_event(
            ref, names.JOB_FAILED, 1, now_us(), step="", reason_code="not-started",
            message=f"the workflow could not be started: {exc}", compensated=[],
            compensation_failed=[], duration_ms=0))
        if claim_key is not None:
            await ctx.idempotency.release(claim_key, claim_value)
        raise unavailable(f"job {job_id} could not be started: {exc}") from exc
    return _created(record, 201)


async def _owned_job(request: Request, call: Call) -> tuple[JobsEdge, JobRecord]:
    claims = await session_token(request, call)
    job_id = canonical_uuid(str(request.path_params["job_id"]), "path")
    jobs = await jobs_edge(request.app)
    record = await jobs.get(job_id)
    # Another tenant's job is reported exactly like a missing one: no existence leak.
    if record is None or record.tenant != claims.tenant:
        raise Problem("job-not-found", f"job {job_id} not found")
    return jobs, record


@endpoint("/v1/jobs/{job_id}")
async def get_job(request: Request, call: Call) -> Response:
    jobs, record = await _owned_job(request, call)
    view = await job_view(jobs, record)
    return JSONResponse(view.to_dict())


@endpoint("/v1/jobs/{job_id}/logs")
async def job_logs(request: Request, call: Call) -> Response:
    jobs, record = await _owned_job(request, call)
    after = last_event_id(request.headers.get("last-event-id"), record)
    edge = call.ctx.edge
    return StreamingResponse(
        job_stream(jobs, record, after, heartbeat_s=edge.heartbeat_s, retry_ms=edge.sse_retry_ms),
        media_type=MEDIA_TYPE,
        headers={"X-Job-Id": record.job_id, "Cache-Control": "no-cache",
                 "X-Accel-Buffering": "no", "X-Trace-Id": call.trace_id},
    )


def _update_problem(exc: Exception, job_id: str) -> Problem:
    """The problem for a refused or unanswered update of job ``job_id``."""
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
        return unavailable(f"job {job_id}: no jobs worker answered within "
                           f"{UPDATE_TIMEOUT.total_seconds():.0f}s")
    cause = exc.cause if isinstance(exc, WorkflowUpdateFailedError) else None
    if isinstance(cause, ApplicationError):
        slug = {msg.NO_SUCH_STEP: "step-not-found", msg.NOT_WAITING: "step-not-waiting",
                msg.NOT_RUNNING: "job-not-running"}.get(cause.type or "", "job-not-running")
        return Problem(slug, cause.message)
    if isinstance(exc, RPCError) and "completed" in str(exc).lower():
        return Problem("job-not-running", f"job {job_id} has ended")
    return unavailable(f"job {job_id}: {type(exc).__name__}: {exc}")


async def _update(jobs: JobsEdge, record: JobRecord, name: str, arg: Any) -> dict[str, Any]:
    client = await jobs.client()
    handle = client.get_workflow_handle(msg.workflow_id(record.job_id))
    try:
        result: dict[str, Any] = await handle.execute_update(
            name, arg, result_type=dict, rpc_timeout=UPDATE_TIMEOUT)
    except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError,
            RPCError) as exc:
        raise _update_problem(exc, record.job_id) from exc
    return result


@endpoint("/v1/jobs/{job_id}/approvals/{step}")
async def approve_step(request: Request, call: Call) -> Response:
    jobs, record = await _owned_job(request, call)
    body = await read_json(request, APPROVAL_REQUEST, call.ctx.edge.max_body_bytes)
    step = request.path_params["step"]
    result = await _update(jobs, record, msg.UPDATE_DECIDE, msg.ApprovalDecision(
        step, body["decision"] == "approve", call.principal, body.get("comment", "")))
    return JSONResponse({"job_id": record.job_id, **result})


@endpoint("/v1/jobs/{job_id}/cancel")
async def cancel_job(request: Request, call: Call) -> Response:
    jobs, record = await _owned_job(request, call)
    body = await read_json(request, JOB_CANCEL_REQUEST, call.ctx.edge.max_body_bytes,
                           optional=True)
    result = await _update(jobs, record, msg.UPDATE_CANCEL, msg.CancelRequest(
        body.get("reason") or "cancelled by client", call.principal))
    return JSONResponse(result, status_code=202)


@endpoint("/v1/jobs")
async def list_jobs(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise Problem("invalid-query", f"status must be one of {', '.join(STATUSES)}")
    raw_limit = request.query_params.get("limit", "50")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        raise Problem("invalid-query", "limit must be an integer in 1..500")
    rows = await call.ctx.pg.fetch(
        "SELECT job_id, name, status, parent_job_id, steps_total, steps_completed, "
        "failed_step, failure_reason, submitted_at, finished_at, duration_ms FROM jobs "
        "WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) "
        "ORDER BY submitted_at DESC, job_id LIMIT $3",
        uuid.UUID(claims.tenant), status, int(raw_limit))
    out = [{k: (str(v) if isinstance(v, uuid.UUID) else
                v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(r).items()}
           for r in rows]
    return JSONResponse({"jobs": out, "status": status})


@endpoint("/v1/jobs/plan")
async def plan_job(request: Request, call: Call) -> Response:
    await session_token(request, call)
    body = await read_json(request, PLAN_REQUEST, call.ctx.edge.max_body_bytes)
    try:
        doc = plan_text(body["roadmap"], tools=body.get("tools") or [],
                        **({"approval_timeout_s": body["approval_timeout_s"]}
                           if "approval_timeout_s" in body else {}))
    except InvalidRoadmap as exc:
        raise Problem("invalid-roadmap", str(exc)) from exc
    _spec(doc)
    return JSONResponse({"spec": doc, "planner": "deterministic",
                         "steps": len(doc["steps"])})
