"""Deterministic identifiers for turn events, tool calls and usage records.

Pure functions: the same turn, step and index always give the same id, so a
worker that re-runs a step after a crash re-emits events with the ids it used
the first time and downstream consumers drop the duplicates.

This is a local copy of the scheme in ``somagent.events.ids`` (same namespace,
same separator, same part spelling), kept here so ``turns`` imports nothing
else from the project; a unit test pins that both give identical ids.
"""

from __future__ import annotations

import uuid

# Fixed forever (shared with somagent.events.ids): changing it changes every id.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:somagent:events")

_SEP = "\x1f"  # never part of an id, so parts cannot run together

IdPart = uuid.UUID | str | int | None

#: The step name whose idempotency keys are tool-call ids.
TOOLS_STEP = "tools"


def _part(value: IdPart) -> str:
    if value is None:
        return "-"
    if isinstance(value, uuid.UUID | int):
        return str(value)
    try:
        return str(uuid.UUID(value))
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
    """Id of the ``index``-th planned tool call of a turn (a UUID string)."""
    return str(stable_id("tool-call", turn_id, index))


def usage_id(source_event_id: IdPart, agent: str, index: int = 0) -> str:
    """Id of the ``index``-th usage record that event ``source_event_id`` caused for ``agent``."""
    return str(stable_id("usage", source_event_id, agent, index))


def idem_key(turn_id: IdPart, step: str, call_index: int) -> str:
    """Idempotency key of one call made by ``step`` of a turn.

    Stable across retries and resumes of the same call and distinct for every
    other call. For the tools step it is the tool-call id, so the Redis key
    ``idem:{tool}:{key}`` (:func:`redis_idem_key`) equals
    ``somagent.events.ids.tool_idempotency_key``.
    """
    if call_index < 0:
        raise ValueError(f"call index must be >= 0 for turn {turn_id}, got {call_index}")
    if step == TOOLS_STEP:
        return tool_call_id(turn_id, call_index)
    return str(stable_id("idem", turn_id, step, call_index))


def redis_idem_key(tool: str, key: str) -> str:
    """The Redis key under which a tool call's idempotency record lives (24 h TTL)."""
    return f"idem:{tool}:{key}"
