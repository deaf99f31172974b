"""The event-type names are exactly the payload records of the Avro contract."""

from __future__ import annotations

import json
from pathlib import Path

from somagent.contract import names
from somagent.events.catalog import EVENT_TOPICS

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "avro"
# Records that are parts of other records, not payloads of an envelope.
NOT_PAYLOADS = {"Envelope", "EvidenceBlock", "MemoryMode", "PlannedToolCall"}


def test_every_payload_record_has_a_name_and_no_more() -> None:
    records = {json.loads(p.read_text())["name"] for p in SCHEMAS.glob("*.avsc")}
    assert records - NOT_PAYLOADS == set(names.ALL)


def test_every_name_has_a_topic() -> None:
    assert set(EVENT_TOPICS) == set(names.ALL)


def test_turn_events_end_with_turn_completed() -> None:
    assert names.TURN_COMPLETED in names.TURN_EVENTS
    assert names.SESSION_MINTED not in names.TURN_EVENTS
