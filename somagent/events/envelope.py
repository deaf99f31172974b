"""Building envelopes: the fields every event shares, around one payload.

An envelope is a plain dict, exactly the shape the codec writes::

    {"event_id", "type", "ts", "tenant", "session", "turn", "trace_id", "seq",
     "producer", "payload"}

``ts`` is epoch microseconds (int) or an aware datetime; UUID fields accept
:class:`uuid.UUID` or canonical strings. Decoded envelopes carry UUIDs and UTC
datetimes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from somagent.events.ids import random_event_id
from somagent.events.tracing import new_trace_id

Event = dict[str, Any]


def now_us() -> int:
    """Wall-clock time as epoch microseconds."""
    return time.time_ns() // 1000


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

    Pass ``event_id`` from :mod:`somagent.events.ids` for anything a retry could
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def plain(value: Any) -> Any:
    """``value`` with UUIDs as strings and datetimes as epoch microseconds, recursively.

    Decoded events become JSON-ready and compare equal to the envelopes that were
    encoded (which may use UUID objects, strings, ints or datetimes).
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return (value - _EPOCH) // _MICROSECOND
    return value
