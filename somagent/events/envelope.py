"""Building envelopes at the edge of the system: now, a random id, a new trace.

:func:`make_event` fills what :class:`somagent.contract.envelope.Envelope` leaves
to the caller (the clock, a random event id, a new trace id), so it lives here
and not in the pure contract. ``ts`` is epoch microseconds (int) or an aware
datetime; UUID fields accept :class:`uuid.UUID` or canonical strings.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from somagent.contract.envelope import Event
from somagent.events.tracing import new_trace_id


def now_us() -> int:
    """Wall-clock time as epoch microseconds."""
    return time.time_ns() // 1000


def random_event_id() -> uuid.UUID:
    """A random (v4) id, for events that are appended exactly once and never retried."""
    return uuid.uuid4()


def make_event(
    event_type: str,
    payload: Mapping[str, Any],
    *,
    tenant: uuid.UUID | str,
    producer: str,
    session: uuid.UUID | str | None = None,
    turn: uuid.UUID | str | None = None,
    trace_id: str | None = None,
    seq: int = 0,
    event_id: uuid.UUID | str | None = None,
    ts_us: int | None = None,
) -> Event:
    """An envelope around ``payload``.

    Pass ``event_id`` from :mod:`somagent.contract.ids` for anything a retry could
    emit twice; the random default is only right for events appended exactly once.
    """
    return {
        "event_id": event_id if event_id is not None else random_event_id(),
        "type": event_type,
        "ts": ts_us if ts_us is not None else now_us(),
        "tenant": tenant,
        "session": session,
        "turn": turn,
        "trace_id": trace_id or new_trace_id(),
        "seq": seq,
        "producer": producer,
        "payload": dict(payload),
    }
