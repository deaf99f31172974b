"""Deterministic identifiers for turn events and tool-call idempotency keys.

Pure functions: the same turn, step and index always give the same id, so a
worker that re-runs a step after a crash re-emits events with the ids it used
the first time and downstream consumers drop the duplicates. The events package
has its own id helpers; this module is a local copy so ``turns`` imports
nothing else from the project.
"""

from __future__ import annotations

import uuid

#: Namespace for turn ids that are not themselves UUIDs.
TURN_NAMESPACE = uuid.UUID("6f1c3f0e-5d8a-5b7e-9c54-2a41d3c0b7a1")


def turn_namespace(turn_id: str) -> uuid.UUID:
    """The UUID namespace of one turn: the turn id itself when it is a UUID."""
    try:
        return uuid.UUID(turn_id)
    except ValueError:
        return uuid.uuid5(TURN_NAMESPACE, turn_id)


def event_id(turn_id: str, step: str, index: int | str = 0, kind: str = "") -> str:
    """``uuid5(turn namespace, "{step}:{kind}:{index}")`` as a string.

    ``kind`` separates several events emitted by one step (for example the
    ``TurnPlanned`` and ``PolicyDenied`` events of the plan step); ``index``
    separates repeats of one kind (tool call index, delta chunk number).
    """
    return str(uuid.uuid5(turn_namespace(turn_id), f"{step}:{kind}:{index}"))


def idem_key(turn_id: str, step: str, call_index: int) -> str:
    """Idempotency key of one tool call: ``{turn_id}:{step}:{call_index}``.

    Stable across retries and resumes of the same call and distinct for every
    other call. The tool broker stores it as ``idem:{tool}:{key}`` (see
    :func:`redis_idem_key`).
    """
    if call_index < 0:
        raise ValueError(f"call index must be >= 0 for turn {turn_id}, got {call_index}")
    return f"{turn_id}:{step}:{call_index}"


def redis_idem_key(tool: str, key: str) -> str:
    """The Redis key under which a tool call's idempotency record lives (24 h TTL)."""
    return f"idem:{tool}:{key}"
