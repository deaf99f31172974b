"""The envelope every event shares, as a typed record, and its plain (JSON-ready) form (pure).

An envelope is, on the wire, the Avro record ``schemas/avro/Envelope.avsc``::

    {"event_id", "type", "ts", "tenant", "session", "turn", "trace_id", "seq",
     "producer", "payload"}

:class:`Envelope` is that record with its types spelled out; ``to_dict()`` is the
dict the codec encodes. ``ts`` is epoch microseconds; ids are canonical UUID
strings; ``payload`` holds exactly the fields of the Avro record named by
``type`` (:mod:`somagent.contract.names`). Decoded envelopes carry UUIDs and UTC
datetimes; :func:`plain` turns them back into strings and epoch microseconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Event = dict[str, Any]

@dataclass(frozen=True)
class Envelope:
    """One event: the shared fields around one payload (see the module doc)."""

    event_id: str
    type: str
    ts: int
    tenant: str
    session: str | None
    turn: str | None
    trace_id: str
    seq: int
    producer: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Event:
        """The envelope as the codec encodes it (``payload`` copied)."""
        return {
            "event_id": self.event_id,
            "type": self.type,
            "ts": self.ts,
            "tenant": self.tenant,
            "session": self.session,
            "turn": self.turn,
            "trace_id": self.trace_id,
            "seq": self.seq,
            "producer": self.producer,
            "payload": dict(self.payload),
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
