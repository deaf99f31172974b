"""Read models kept as SQL statements per event (the artifact and policy tables).

A package that owns such tables gives a pure ``statements(event, tables)``; this
module applies them. Guarantee: :func:`apply_statements` runs on the caller's
connection, inside the caller's transaction, so the rows and the projector's
position commit together (or not at all); each statement is idempotent by design of
the owning package (``ON CONFLICT`` / guarded ``UPDATE``), so a redelivered event
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

Statement = tuple[str, tuple[Any, ...]]
Statements = Callable[[Mapping[str, Any], Mapping[str, str]], list[Statement]]


def suffixed(tables: Iterable[str], suffix: str = "") -> dict[str, str]:
    """Each table's name with ``suffix`` (``"_replay"`` for a rebuild beside the live one)."""
    return {table: f"{table}{suffix}" for table in tables}


async def apply_statements(
    conn: Any, events: Iterable[Mapping[str, Any]], event_types: frozenset[str],
    statements: Statements, tables: Mapping[str, str],
) -> int:
    """Execute ``statements`` of the events among ``events`` whose type is in
    ``event_types``; returns how many events that was."""
    count = 0
    for event in events:
        if event["type"] not in event_types:
            continue
        count += 1
        for sql, args in statements(event, tables):
            await conn.execute(sql, *args)
    return count
