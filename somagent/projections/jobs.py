"""Jobs in Postgres: ``jobs`` and ``job_steps`` rows from ``jobs.events``.

The rows are derived from the job's view (:mod:`somagent.jobs.view`, the same fold
GET /v1/jobs/{id} uses): the projector loads each touched job's stored view
(``jobs.state``), folds the batch's events over it (a copy of an event, at or below
``last_seq``, changes nothing) and upserts the job's row and every step row, inside
the batch's transaction.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from somagent.jobs.view import JobView, fold, from_dict

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JOB_COLUMNS = (
    "job_id", "tenant_id", "session_id", "name", "status", "parent_job_id", "submitted_by",
    "spec_sha256", "steps_total", "steps_completed", "failed_step", "failure_reason",
    "submitted_at", "updated_at", "finished_at", "duration_ms", "last_seq", "state",
)
STEP_COLUMNS = (
    "job_id", "step", "position", "kind", "status", "attempts", "turn_id", "child_job_id",
    "started_at", "finished_at", "duration_ms", "output", "error", "approval_decision",
    "approved_by", "compensation",
)


def _ts(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def job_values(view: JobView) -> tuple[Any, ...]:
    failure = view.failure or {}
    return (
        uuid.UUID(view.job_id), uuid.UUID(view.tenant), uuid.UUID(view.session), view.name,
        view.status, _uuid(view.parent_job_id), view.submitted_by, view.spec_sha256,
        len(view.steps), view.steps_completed, failure.get("step"),
        f"{failure['reason_code']}: {failure['message']}" if failure else None,
        _ts(view.submitted_us), _ts(view.updated_us), _ts(view.ended_us), view.duration_ms,
        view.last_seq, json.dumps(view.to_dict(), sort_keys=True),
    )


def step_values(view: JobView) -> list[tuple[Any, ...]]:
    rows = []
    for position, s in enumerate(view.steps.values()):
        approval = s.approval or {}
        rows.append((
            uuid.UUID(view.job_id), s.name, position, s.kind, s.status, s.attempts,
            _uuid(s.turn_id), _uuid(s.child_job_id), _ts(s.started_us), _ts(s.ended_us),
            s.duration_ms, None if s.output is None else json.dumps(s.output, sort_keys=True),
            None if s.error is None else f"{s.error['reason_code']}: {s.error['message']}",
            approval.get("decision"), approval.get("principal"),
            None if s.compensation is None else
            ("ok" if s.compensation["ok"] else f"failed: {s.compensation['message']}"),
        ))
    return rows


def job_id_of(event: dict[str, Any]) -> str:
    return str(event["payload"]["job_id"])


async def apply_jobs(conn: Any, events: list[dict[str, Any]], jobs_table: str,
                     steps_table: str) -> None:
    """Fold ``events`` into the stored views of their jobs and upsert their rows."""
    ids = sorted({job_id_of(e) for e in events})
    found = await conn.fetch(
        f"SELECT job_id, state FROM {jobs_table} WHERE job_id = ANY($1::uuid[]) FOR UPDATE",
        [uuid.UUID(i) for i in ids])
    views: dict[str, JobView | None] = {
        str(r["job_id"]): from_dict(json.loads(r["state"])) for r in found}
    for event in events:
        job = job_id_of(event)
        views[job] = fold(views.get(job), event)
    ready = [v for v in views.values() if v is not None]
    cols = ", ".join(JOB_COLUMNS)
    marks = ", ".join(f"${i + 1}" for i in range(len(JOB_COLUMNS)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in JOB_COLUMNS[1:])
    await conn.executemany(
        f"INSERT INTO {jobs_table} ({cols}) VALUES ({marks}) "
        f"ON CONFLICT (job_id) DO UPDATE SET {updates}", [job_values(v) for v in ready])
    cols = ", ".join(STEP_COLUMNS)
    marks = ", ".join(f"${i + 1}" for i in range(len(STEP_COLUMNS)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in STEP_COLUMNS[2:])
    await conn.executemany(
        f"INSERT INTO {steps_table} ({cols}) VALUES ({marks}) "
        f"ON CONFLICT (job_id, step) DO UPDATE SET {updates}",
        [row for v in ready for row in step_values(v)])
