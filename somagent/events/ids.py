"""Deterministic ids for everything a retry could emit twice.

A worker that crashes after appending an event and before committing its input
offset runs the step again after restart; because the id is a UUIDv5 of what the
step is about (turn id, step name, index), the retry emits the *same* event id and
consumers drop the duplicate by id. Use :func:`random_event_id` only for events
that are never retried (e.g. a request that the edge appends exactly once).

All functions are pure; equal inputs give equal ids in every process and version.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

# Fixed forever: changing it would change every deterministic id.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:somagent:events")

_SEP = "\x1f"  # ASCII unit separator: never part of an id, so parts cannot run together
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

IdPart = uuid.UUID | str | int | None


def _part(value: IdPart) -> str:
    if value is None:
        return "-"
    if isinstance(value, uuid.UUID | int):
        return str(value)
    try:
        return str(uuid.UUID(value))  # one spelling per UUID: "ABC..." == "abc-..."
    except ValueError:
        return value


def stable_id(kind: str, *parts: IdPart) -> uuid.UUID:
    """UUIDv5 of ``kind`` and ``parts``; UUIDs compare equal however they are spelled."""
    return uuid.uuid5(NAMESPACE, _SEP.join((kind, *(_part(p) for p in parts))))


def event_id(turn_id: IdPart, step: str, index: int = 0) -> uuid.UUID:
    """Id of the ``index``-th event of ``step`` in a turn (e.g. ``"ToolCallDelta"``, 3)."""
    return stable_id("turn-event", turn_id, step, index)


def tool_call_id(turn_id: IdPart, index: int) -> str:
    """Id of the ``index``-th planned tool call of a turn (a UUID string)."""
    return str(stable_id("tool-call", turn_id, index))


def tool_idempotency_key(tool: str, turn_id: IdPart, index: int) -> str:
    """Redis key guarding a tool call's side effect: ``idem:{tool}:{call id}``."""
    return f"idem:{tool}:{tool_call_id(turn_id, index)}"


def session_event_id(session_id: IdPart, step: str) -> uuid.UUID:
    """Id of a session-level event (``"SessionMinted"``, ``"SessionExpired"``)."""
    return stable_id("session-event", session_id, step)


def usage_id(source_event_id: IdPart, agent: str, index: int = 0) -> uuid.UUID:
    """Id of the ``index``-th usage record an event caused for ``agent``.

    ``source_event_id`` is the id of the event whose work is being metered, so a
    retried step meters exactly once.
    """
    return stable_id("usage", source_event_id, agent, index)


def window_start_us(value: datetime | int) -> int:
    """Epoch microseconds of a datetime (or pass through an int)."""
    if isinstance(value, int):
        return value
    return (value - _EPOCH) // _MICROSECOND


def ledger_event_id(
    tenant: IdPart, agent: str, session: IdPart, window_start: datetime | int, revision: int
) -> uuid.UUID:
    """Id of one ``UsageWindowClosed`` row: the window's key plus its revision."""
    return stable_id("ledger", tenant, agent, session, window_start_us(window_start), revision)


def memory_id(tenant: IdPart, text_sha256: str, capsule_id: str | None = None) -> str:
    """Id of a memory: the same text remembered twice in one place is one memory."""
    return str(stable_id("memory", tenant, capsule_id, text_sha256))


def memory_event_id(memory: str, step: str) -> uuid.UUID:
    """Id of a memory event (``"MemoryRememberRequested"``, ``"MemoryRemembered"``, ...)."""
    return stable_id("memory-event", memory, step)


def random_event_id() -> uuid.UUID:
    """A random (v4) id, for events that are appended exactly once and never retried."""
    return uuid.uuid4()
