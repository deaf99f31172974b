"""Usage rows as CloudEvents: deterministic ids, one event per row, the counts as data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from somagent.projections.usage_export import export_id, to_lines

ROW = {"tenant_id": uuid.UUID(int=7), "agent": "planner", "session_id": uuid.UUID(int=9),
       "minute": datetime(2026, 3, 1, 10, tzinfo=UTC), "revision": 0, "tokens": 5,
       "tool_calls": 1, "storage_bytes": 0, "egress_bytes": 3, "cost_cents": 2,
       "is_correction": False}


def test_ids_depend_on_the_rows_unique_key_only() -> None:
    same_instant = {**ROW, "minute": ROW["minute"].astimezone(timezone(timedelta(hours=2))),
                    "tokens": 999}
    assert export_id(ROW) == export_id(same_instant)
    assert export_id(ROW) != export_id({**ROW, "revision": 1})
    assert export_id(ROW) != export_id({**ROW, "agent": "other"})


def test_lines_are_json_cloudevents_with_the_counts() -> None:
    [line] = list(to_lines([ROW]))
    event = JSONFormat().read(CloudEvent, line)
    assert event.get_specversion() == "1.0" and event.get_id() == export_id(ROW)
    assert event.get_subject() == str(ROW["tenant_id"])
    assert event.get_time() == ROW["minute"]
    assert event.get_data() == {"tokens": 5, "tool_calls": 1, "storage_bytes": 0,
                                "egress_bytes": 3, "cost_cents": 2, "agent": "planner",
                                "session_id": str(ROW["session_id"]), "revision": 0,
                                "is_correction": False}
    assert list(to_lines([ROW])) == [line]  # deterministic bytes
