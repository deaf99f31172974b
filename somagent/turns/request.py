"""The request that starts a turn, and how to read it from a ``TurnRequested`` envelope."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from somagent.turns.exceptions import InvalidTurnState

#: ``TurnRequested.memory_mode`` symbols → (may read, may write).
MEMORY_MODES: dict[str, tuple[bool, bool]] = {
    "none": (False, False),
    "read": (True, False),
    "readwrite": (True, True),
}


@dataclass(frozen=True)
class TurnRequest:
    """What the machine needs to start a turn.

    ``deadline_at_ms`` is absolute (epoch ms); ``requested_at_ms`` is when the
    client asked (0: use the start time); ``seq`` is the ``TurnRequested``
    event's seq, so the first machine event gets ``seq + 1``. ``capsule_ids``
    ``None`` means recall is not restricted to capsules. ``tools_per_min`` is the
    session's tool-call rate (``None``: not stated; the tool gate's default applies).
    """

    turn_id: str
    session_id: str
    tenant: str
    text: str
    deadline_at_ms: int
    allow_tools: tuple[str, ...] = ()
    allow_memory_read: bool = True
    allow_memory_write: bool = False
    capsule_ids: tuple[str, ...] | None = None
    trace_id: str = ""
    seq: int = 0
    requested_at_ms: int = 0
    idempotency_key: str | None = None  # the client's Idempotency-Key, when it sent one
    tools_per_min: int | None = None


def _epoch_us(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000)
    return int(value)


def _text(value: Any) -> str:
    return str(value) if isinstance(value, uuid.UUID) else str(value or "")


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def request_from_event(envelope: Mapping[str, Any]) -> TurnRequest:
    """A :class:`TurnRequest` from a decoded ``TurnRequested`` envelope.

    The deadline is the envelope ``ts`` plus the payload's ``deadline_ms``
    budget; an unknown ``memory_mode`` reads as ``none`` (as the schema says).
    Raises :class:`InvalidTurnState` naming the missing field.
    """
    try:
        payload = envelope["payload"]
        ts_ms = _epoch_us(envelope["ts"]) // 1000
        read, write = MEMORY_MODES.get(str(payload.get("memory_mode", "none")), (False, False))
        capsules = tuple(str(c) for c in payload.get("capsule_ids") or ())
        return TurnRequest(
            turn_id=_text(payload["turn_id"]),
            session_id=_text(payload["session_id"]),
            tenant=_text(envelope["tenant"]),
            text=str(payload["text"]),
            deadline_at_ms=ts_ms + int(payload["deadline_ms"]),
            allow_tools=tuple(str(t) for t in payload.get("allow_tools") or ()),
            allow_memory_read=read,
            allow_memory_write=write,
            capsule_ids=capsules or None,
            trace_id=str(envelope.get("trace_id") or ""),
            seq=int(envelope.get("seq") or 0),
            requested_at_ms=ts_ms,
            idempotency_key=payload.get("idempotency_key") or None,
            tools_per_min=_optional_int(payload.get("tools_per_min")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidTurnState(
            f"TurnRequested event {envelope.get('event_id', '?')}: cannot read {exc!r}"
        ) from exc
