"""Job events and the ids that make them safe to repeat (pure: no clock, no I/O).

Every job event goes to ``jobs.events`` keyed by job id, so a job's events are totally
ordered on one partition. ``seq`` counts a job's events from 0 (``JobSubmitted``) in the
order the workflow decides them; the event id is a UUIDv5 of (job, seq), so an event the
workflow re-emits after a crash carries the same id and every reader drops the copy.

The envelope's ``session`` is the job's own session (:func:`job_session`): the job's
turns run in it and its usage (tokens, tool calls) is metered to it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from somagent.contract.ids import IdPart, stable_id, usage_id
from somagent.events.envelope import make_event

PRODUCER: Final = "jobs"
#: Step outputs and compensation outputs larger than this are summarised in events.
MAX_OUTPUT_BYTES: Final = 32 * 1024


def job_session(job_id: IdPart) -> str:
    """The job's own session id (its turns' conversation, its usage's session)."""
    return str(stable_id("job-session", job_id))


def job_event_id(job_id: IdPart, seq: int) -> str:
    return str(stable_id("job-event", job_id, seq))


def child_job_id(parent_job_id: IdPart, step: str) -> str:
    """The sub-job a parent's step runs: the same on every retry and replay."""
    return str(stable_id("job-child", parent_job_id, step))


def turn_id(job_id: IdPart, purpose: str, step: str, generation: int) -> str:
    """The turn a turn step (``purpose`` "step") or turn compensation ("compensate") runs;
    ``generation`` counts turns started for it (a failed turn's retry is a new turn)."""
    return str(stable_id("job-turn", job_id, purpose, step, generation))


def tool_idem_key(job_id: IdPart, purpose: str, step: str) -> str:
    """The tool broker's idempotency key of a tool step or tool compensation."""
    return str(stable_id("job-tool", job_id, purpose, step))


def tool_usage_id(job_id: IdPart, purpose: str, step: str, tool: str) -> str:
    """The usage record of a tool step's call: one per step, however often retried."""
    return usage_id(tool_idem_key(job_id, purpose, step), f"tool:{tool}")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_digest(spec_json: str) -> str:
    return hashlib.sha256(spec_json.encode("utf-8")).hexdigest()


def output_json(value: Any) -> str:
    """``value`` as JSON for an event; over :data:`MAX_OUTPUT_BYTES`, a summary instead
    (``{"truncated": true, "size_bytes", "sha256", "preview"}``)."""
    text = canonical_json(value)
    raw = text.encode("utf-8")
    if len(raw) <= MAX_OUTPUT_BYTES:
        return text
    return canonical_json({
        "truncated": True,
        "size_bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "preview": raw[:1024].decode("utf-8", errors="ignore"),
    })


@dataclass(frozen=True)
class JobRef:
    """Where a job's events go and whom they belong to (all ids canonical strings)."""

    job_id: str
    tenant: str
    trace_id: str

    @property
    def session(self) -> str:
        return job_session(self.job_id)


def job_event(
    ref: JobRef, event_type: str, seq: int, ts_us: int, /, **payload: Any
) -> dict[str, Any]:
    """The envelope of the job's ``seq``-th event (``job_id`` is added to the payload)."""
    return make_event(
        event_type,
        {"job_id": ref.job_id, **payload},
        tenant=ref.tenant,
        producer=PRODUCER,
        session=ref.session,
        trace_id=ref.trace_id,
        seq=seq,
        event_id=job_event_id(ref.job_id, seq),
        ts_us=ts_us,
    )
