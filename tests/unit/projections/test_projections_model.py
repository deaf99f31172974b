"""Pure parts of the projections: turn folding, SQL guards, DDL suffixes, comparisons."""

from __future__ import annotations

import uuid

import pytest

from somagent.contract.envelope import plain
from somagent.events.examples import example_events
from somagent.projections.audit import check_read_only
from somagent.projections.clickhouse import OBJECTS, render_params, with_suffix
from somagent.projections.exceptions import ReadOnlyViolation
from somagent.projections.model import NIL_SESSION, fold_turn, ledger_values, session_row
from somagent.projections.replay import compare


def _turn_events() -> list[dict[str, object]]:
    return [plain(e) for e in example_events(7) if e["turn"] is not None]


def _fold(events: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    row = None
    for event in events:
        row = fold_turn(row, event)  # type: ignore[arg-type]
    return row


def test_a_turn_folds_to_its_final_state() -> None:
    row = _fold(_turn_events())
    assert row is not None
    assert row.status == "failed"  # the examples include TurnFailed before TurnCompleted
    assert row.failure_reason == "deadline: 30000 ms passed"
    assert row.steps_done == 6 and row.tool_calls == 1 and row.duration_ms == 1834
    assert row.finished_at is not None and row.requested_at <= row.updated_at


def test_duplicated_events_do_not_change_the_row() -> None:
    events = _turn_events()
    assert _fold(events + events[2:5]) == _fold(events)


def test_answered_turn_completes() -> None:
    events = [e for e in _turn_events() if e["type"] != "TurnFailed"]
    row = _fold(events)
    assert row is not None and (row.status, row.step) == ("completed", "done")


def test_session_and_ledger_rows() -> None:
    events = {e["type"]: plain(e) for e in example_events(3)}
    session = session_row(events["SessionMinted"])
    assert session.token_budget == 200_000 and session.expires_at > session.created_at
    ledger = events["UsageWindowClosed"]
    values = ledger_values(ledger)
    assert values[4:6] == (0, 876) and values[-1] == uuid.UUID(ledger["event_id"])
    no_session = dict(ledger, payload=dict(ledger["payload"], session=None))
    assert str(ledger_values(no_session)[2]) == NIL_SESSION


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE events",
        "select 1; select 2",
        "INSERT INTO x VALUES (1)",
        "SYSTEM FLUSH LOGS",
        "OPTIMIZE TABLE events",
        "WITH 1 AS x SELECT x; DROP TABLE events",
        "  ",
    ],
)
def test_only_one_read_only_statement_passes(sql: str) -> None:
    with pytest.raises(ReadOnlyViolation):
        check_read_only(sql)


def test_reads_pass_and_strings_may_hold_keywords() -> None:
    assert check_read_only("SELECT 1;") == "SELECT 1"
    assert check_read_only("with t as (select 1) select * from t")
    assert check_read_only("SELECT 'drop table; insert' AS s")


def test_suffix_renames_every_object_and_nothing_else() -> None:
    sql = "CREATE MATERIALIZED VIEW usage_minute_mv TO usage_minute AS SELECT x_events FROM events"
    assert with_suffix(sql, "_r") == (
        "CREATE MATERIALIZED VIEW usage_minute_mv_r TO usage_minute_r "
        "AS SELECT x_events FROM events_r"
    )
    assert with_suffix(sql, "") == sql and "events" in OBJECTS


def test_params_render_as_literals() -> None:
    sql = "SELECT * FROM events WHERE turn = {turn:String} AND seq > {n:Int64}"
    assert render_params(sql, {"turn": "a'b", "n": 3}) == (
        "SELECT * FROM events WHERE turn = 'a\\'b' AND seq > 3"
    )
    with pytest.raises(KeyError):
        render_params(sql, {"turn": "x"})


def test_compare_names_missing_extra_and_different_keys() -> None:
    check = compare("t", {"a": "01", "b": "02", "c": "03"}, {"a": "01", "b": "ff", "d": "04"})
    assert (check.missing, check.extra, check.different) == (["c"], ["d"], ["b"])
    assert not check.equal
    same = compare("t", {"a": "01"}, {"a": "01"})
    assert same.equal and same.live_checksum == same.replay_checksum == 1
