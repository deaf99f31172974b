"""Deterministic ids for everything a retry could emit twice (pure).

A worker that crashes after appending an event and before committing its input
offset runs the step again after restart; because the id is a UUIDv5 of what the
step is about (turn id, step name, index), the retry emits the *same* event id and
consumers drop the duplicate by id. Events appended exactly once (a request the
edge appends) may use a random id instead (``somagent.events.envelope``).

Every function is pure and returns the canonical (lowercase, hyphenated) UUID
string; equal inputs give equal ids in every process and version, however the
UUID parts are spelled.
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

#: The step name whose idempotency keys are tool-call ids.
TOOLS_STEP = "tools"


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


def event_id(turn_id: IdPart, step: str, index: int | str = 0) -> str:
    """Id of the ``index``-th event named ``step`` (an event type such as
    ``"ToolCallDelta"``) in a turn."""
    return str(stable_id("turn-event", turn_id, step, index))


def tool_call_id(turn_id: IdPart, index: int) -> str:
    """Id of the ``index``-th planned tool call of a turn."""
    return str(stable_id("tool-call", turn_id, index))


def idem_key(turn_id: IdPart, step: str, call_index: int) -> str:
    """Idempotency key of one call made by ``step`` of a turn.

    Stable across retries and resumes of the same call and distinct for every
    other call. For the tools step it is the tool-call id, so
    ``redis_idem_key(tool, idem_key(turn, "tools", i))`` equals
    :func:`tool_idempotency_key`.

    Raises:
        ValueError: ``call_index`` is negative.
    """
    if call_index < 0:
        raise ValueError(f"call index must be >= 0 for turn {turn_id}, got {call_index}")
    if step == TOOLS_STEP:
        return tool_call_id(turn_id, call_index)
    return str(stable_id("idem", turn_id, step, call_index))


def redis_idem_key(tool: str, key: str) -> str:
    """The Redis key under which a tool call's idempotency record lives (24 h TTL)."""
    return f"idem:{tool}:{key}"


def tool_idempotency_key(tool: str, turn_id: IdPart, index: int) -> str:
    """Redis key guarding a tool call's side effect: ``idem:{tool}:{call id}``."""
    return redis_idem_key(tool, tool_call_id(turn_id, index))


def session_event_id(session_id: IdPart, step: str) -> str:
    """Id of a session-level event (``"SessionMinted"``, ``"SessionExpired"``)."""
    return str(stable_id("session-event", session_id, step))


def usage_id(source_event_id: IdPart, agent: str, index: int = 0) -> str:
    """Id of the ``index``-th usage record an event caused for ``agent``.

    ``source_event_id`` is the id of the event whose work is being metered, so a
    retried step meters exactly once.
    """
    return str(stable_id("usage", source_event_id, agent, index))


def window_start_us(value: datetime | int) -> int:
    """Epoch microseconds of a datetime (or pass through an int)."""
    if isinstance(value, int):
        return value
    return (value - _EPOCH) // _MICROSECOND


def ledger_event_id(
    tenant: IdPart, agent: str, session: IdPart, window_start: datetime | int, revision: int
) -> str:
    """Id of one ``UsageWindowClosed`` row: the window's key plus its revision."""
    return str(
        stable_id("ledger", tenant, agent, session, window_start_us(window_start), revision)
    )


def memory_id(tenant: IdPart, text_sha256: str, capsule_id: str | None = None) -> str:
    """Id of a memory: the same text remembered twice in one place is one memory."""
    return str(stable_id("memory", tenant, capsule_id, text_sha256))


def memory_event_id(memory: str, step: str) -> str:
    """Id of a memory event (``"MemoryRememberRequested"``, ``"MemoryRemembered"``, ...)."""
    return str(stable_id("memory-event", memory, step))
