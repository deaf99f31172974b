"""A job's events from ``jobs.events``: folded into its state (GET) or streamed (SSE).

Both read the job's partition from its ``JobSubmitted`` (the offset in its record) and
decode only the job's records. The stream's event ``id`` is the Kafka position
(``partition-offset``); a client that reconnects with ``Last-Event-ID`` resumes right
after what it saw. Copies of an event (a retried append) are recognised by ``seq`` and
sent once. The stream ends after the job's last event (``completed``, ``failed`` or
``cancelled``); until then a comment ``: keep-alive`` goes out every ``heartbeat_s``.

SSE event names: ``submitted``, ``step.started``, ``step.completed``, ``step.failed``,
``approval.requested``, ``approval.given``, ``compensated``, ``completed``, ``failed``,
``cancelled``; data: ``job_id``, ``seq``, ``type``, ``event_id``, ``ts_us``,
``trace_id``, ``payload``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from somagent.api.jobs_edge import JobRecord, JobsEdge
from somagent.api.problems import Problem
from somagent.api.sse import HEARTBEAT, frame, parse_position, retry_frame
from somagent.contract import names
from somagent.contract.envelope import plain
from somagent.jobs.keylog import KeyedRecord
from somagent.jobs.view import JobView, fold

SSE_JOB_NAMES: dict[str, str] = {
    names.JOB_SUBMITTED: "submitted",
    names.JOB_STEP_STARTED: "step.started",
    names.JOB_STEP_COMPLETED: "step.completed",
    names.JOB_STEP_FAILED: "step.failed",
    names.JOB_APPROVAL_REQUESTED: "approval.requested",
    names.JOB_APPROVAL_GIVEN: "approval.given",
    names.JOB_COMPENSATED: "compensated",
    names.JOB_COMPLETED: "completed",
    names.JOB_FAILED: "failed",
    names.JOB_CANCELLED: "cancelled",
}


#: How long one read of a following stream waits for new records (it holds a reader).
FOLLOW_WAIT_S = 1.0


def is_end(event: dict[str, Any]) -> bool:
    return event.get("type") in names.JOB_END_EVENTS


async def job_view(jobs: JobsEdge, record: JobRecord) -> JobView:
    """The job's state from its events logged so far (read up to the log's end now)."""
    end = await jobs.run(jobs.log.end_offset, record.partition)
    got = await jobs.run(jobs.log.read, record.partition, record.offset, record.job_id,
                         end=end, until=is_end)
    view: JobView | None = None
    for rec in got.records:
        view = fold(view, rec.event)
    if view is None:
        raise Problem("dependency-unavailable",
                      f"job {record.job_id}: JobSubmitted is not at {record.partition}-"
                      f"{record.offset} of jobs.events", headers={"Retry-After": "1"})
    return view


def last_event_id(raw: str | None, record: JobRecord) -> int | None:
    """The offset a ``Last-Event-ID`` names (400 when it is not on the job's partition)."""
    if raw is None or not raw.strip():
        return None
    position = parse_position(raw)
    if position is None or position[0] != record.partition or position[1] < record.offset:
        raise Problem("bad-last-event-id",
                      f"Last-Event-ID {raw!r} is not a position of job {record.job_id} "
                      f"(its events are on partition {record.partition} from offset "
                      f"{record.offset})")
    return position[1]


def data_of(rec: KeyedRecord) -> dict[str, Any]:
    e = rec.event
    return {"job_id": str(e["payload"].get("job_id")), "seq": int(e["seq"]),
            "type": str(e["type"]), "event_id": str(e["event_id"]), "ts_us": plain(e["ts"]),
            "trace_id": str(e.get("trace_id") or ""), "payload": plain(e["payload"])}


async def job_stream(jobs: JobsEdge, record: JobRecord, after: int | None,
                     *, heartbeat_s: float, retry_ms: int) -> AsyncIterator[bytes]:
    """SSE bytes of the job's events strictly after offset ``after`` (or from the start)."""
    yield retry_frame(retry_ms)
    position = record.offset if after is None else after
    last_seq = -1
    skip_first = after is not None  # the record at ``after`` only tells its seq
    quiet_since = time.monotonic()
    while True:
        got = await jobs.run(jobs.log.read, record.partition, position, record.job_id,
                             until=is_end, wait_s=min(FOLLOW_WAIT_S, heartbeat_s))
        chunks = []
        for rec in got.records:
            seq = int(rec.event["seq"])
            if skip_first and rec.offset == after:
                last_seq, skip_first = seq, False
                continue
            if seq <= last_seq:
                continue
            last_seq = seq
            chunks.append(frame(SSE_JOB_NAMES.get(str(rec.event["type"]), "event"),
                                data_of(rec), rec.position))
        if chunks:
            yield b"".join(chunks)
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= heartbeat_s:
            yield HEARTBEAT
            quiet_since = time.monotonic()
        if got.stopped:
            return
        position = got.next_offset
