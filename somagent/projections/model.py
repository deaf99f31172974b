"""Pure folds from events to read-model rows (no I/O).

The Postgres projector loads the current rows of the entities a batch touches,
folds the batch's events over them here, and writes the results back in one
transaction. Folding is idempotent per event: a turn event whose ``seq`` is not
above the row's ``last_seq`` (a duplicate in the log) changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from somagent.contract import names

NIL_SESSION = "00000000-0000-0000-0000-000000000000"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Step names of the turn machine per event type, and whether the event is a step.
_STEPS: dict[str, tuple[str, bool]] = {
    names.TURN_REQUESTED: ("ingest", False),
    names.TURN_RECALLED: ("recall", True),
    names.TURN_PLANNED: ("plan", True),
    names.TOOL_CALL_REQUESTED: ("tools", False),
    names.TOOL_CALL_DELTA: ("tools", False),
    names.TOOL_CALL_COMPLETED: ("tools", False),
    names.TOOL_CALL_FAILED: ("tools", False),
    names.TURN_VERIFIED: ("verify", True),
    names.TURN_ANSWERED: ("answer", True),
    names.TURN_CANCEL_REQUESTED: ("cancel", False),
}


def as_datetime(value: Any) -> datetime:
    """An aware UTC datetime from a decoded timestamp (datetime) or epoch microseconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return _EPOCH + timedelta(microseconds=int(value))


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


@dataclass(frozen=True, slots=True)
class TurnRow:
    """One ``turns`` row (column names)."""

    turn_id: uuid.UUID
    session_id: uuid.UUID
    tenant_id: uuid.UUID
    status: str
    step: str
    steps_done: int
    tool_calls: int
    requested_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    failure_reason: str | None
    duration_ms: int | None
    last_seq: int

    def values(self) -> tuple[Any, ...]:
        return (
            self.turn_id,
            self.session_id,
            self.tenant_id,
            self.status,
            self.step,
            self.steps_done,
            self.tool_calls,
            self.requested_at,
            self.updated_at,
            self.finished_at,
            self.failure_reason,
            self.duration_ms,
            self.last_seq,
        )


TURN_COLUMNS = (
    "turn_id",
    "session_id",
    "tenant_id",
    "status",
    "step",
    "steps_done",
    "tool_calls",
    "requested_at",
    "updated_at",
    "finished_at",
    "failure_reason",
    "duration_ms",
    "last_seq",
)


def turn_id_of(event: dict[str, Any]) -> uuid.UUID | None:
    """The turn a conversation event belongs to (envelope ``turn``, or TurnRequested's id)."""
    turn = event.get("turn")
    if turn is None and event["type"] == names.TURN_REQUESTED:
        turn = event["payload"]["turn_id"]
    return None if turn is None else as_uuid(turn)


def fold_turn(row: TurnRow | None, event: dict[str, Any]) -> TurnRow | None:
    """``row`` after ``event`` (None stays None for events that cannot start a row)."""
    kind = event["type"]
    if kind not in names.TURN_EVENTS:
        return row
    turn_id = turn_id_of(event)
    if turn_id is None:
        return row
    ts = as_datetime(event["ts"])
    seq = int(event["seq"])
    if row is None:
        session = event.get("session") or event["payload"].get("session_id") or NIL_SESSION
        row = TurnRow(
            turn_id,
            as_uuid(session),
            as_uuid(event["tenant"]),
            "requested",
            "ingest",
            0,
            0,
            ts,
            ts,
            None,
            None,
            None,
            -1,
        )
    elif seq <= row.last_seq:
        return row  # already applied (a duplicate in the log)
    return _apply(row, kind, event["payload"], ts, seq)


def _apply(row: TurnRow, kind: str, payload: dict[str, Any], ts: datetime, seq: int) -> TurnRow:
    changes: dict[str, Any] = {"updated_at": max(ts, row.updated_at), "last_seq": seq}
    if kind in _STEPS:
        step, counts = _STEPS[kind]
        changes["step"] = step
        if counts:
            changes["steps_done"] = row.steps_done + 1
        if kind == names.TOOL_CALL_REQUESTED:
            changes["tool_calls"] = row.tool_calls + 1
        if row.status in ("requested", "running"):
            changes["status"] = (
                "answered"
                if kind == names.TURN_ANSWERED
                else ("requested" if kind == names.TURN_REQUESTED else "running")
            )
    elif kind == names.TURN_FAILED:
        changes.update(
            status="failed",
            step=str(payload.get("step", row.step)),
            failure_reason=f"{payload.get('reason_code')}: {payload.get('message')}",
        )
    elif kind == names.TURN_COMPLETED:
        changes.update(
            status="failed" if row.status == "failed" else "completed",
            finished_at=ts,
            duration_ms=int(payload["duration_ms"]),
            steps_done=int(payload["steps"]),
            step="done" if row.status != "failed" else row.step,
        )
    return replace(row, **changes)


@dataclass(frozen=True, slots=True)
class SessionRow:
    session_id: uuid.UUID
    tenant_id: uuid.UUID
    persona_hash: str
    policy_hash: str
    token_budget: int
    tools_per_min: int
    created_at: datetime
    expires_at: datetime


def session_row(event: dict[str, Any]) -> SessionRow:
    """The ``sessions`` row of a SessionMinted event."""
    p = event["payload"]
    return SessionRow(
        as_uuid(p["session_id"]),
        as_uuid(event["tenant"]),
        str(p["persona_hash"]),
        str(p["policy_hash"]),
        int(p["token_budget"]),
        int(p["tools_per_min"]),
        as_datetime(event["ts"]),
        as_datetime(p["expires_at"]),
    )


LEDGER_COLUMNS = (
    "tenant_id",
    "agent",
    "session_id",
    "minute",
    "revision",
    "tokens",
    "tool_calls",
    "storage_bytes",
    "egress_bytes",
    "cost_cents",
    "is_correction",
    "event_id",
)


def ledger_values(event: dict[str, Any]) -> tuple[Any, ...]:
    """The ``usage_ledger`` row of a UsageWindowClosed event (nil UUID for no session)."""
    p = event["payload"]
    return (
        as_uuid(p["tenant"]),
        str(p["agent"]),
        as_uuid(p.get("session") or NIL_SESSION),
        as_datetime(p["window_start"]),
        int(p["revision"]),
        int(p["tokens"]),
        int(p["tool_calls"]),
        int(p["storage_bytes"]),
        int(p["egress_bytes"]),
        int(p["cost_cents"]),
        bool(p["is_correction"]),
        as_uuid(event["event_id"]),
    )
