"""Property tests of the pure ledger: exact sums, dedupe, grace, order independence."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.billing.exceptions import TooLate
from somagent.billing.ledger import LedgerBook, LedgerRow, Usage, WindowKey, totals_by_window
from somagent.billing.pricebook import cents_half_up
from somagent.billing.windows import MINUTE_US, window_start

T0 = 1_795_000_020_000_000 - 1_795_000_020_000_000 % MINUTE_US
TENANTS = [str(uuid.UUID(int=i + 1)) for i in range(2)]
SESSIONS = [str(uuid.UUID(int=100 + i)) for i in range(2)] + [None]


@st.composite
def usages(draw: st.DrawFn) -> list[Usage]:
    n = draw(st.integers(1, 60))
    out = []
    for i in range(n):
        out.append(
            Usage(
                event_id=str(uuid.UUID(int=10_000 + i)),
                tenant=draw(st.sampled_from(TENANTS)),
                agent=draw(st.sampled_from(["planner", "tool:search"])),
                session=draw(st.sampled_from(SESSIONS)),
                occurred_at_us=T0 + draw(st.integers(0, 6 * MINUTE_US)),
                tokens=draw(st.integers(0, 5000)),
                tool_calls=draw(st.integers(0, 3)),
                storage_bytes=draw(st.integers(0, 10**6)),
                egress_bytes=draw(st.integers(0, 10**6)),
                cost_picocents=draw(st.integers(0, 3 * 10**12)),
            )
        )
    return out


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Usage], list[list[Usage]], int]:
    """Distinct usage, then a delivery order with duplicates, split into batches."""
    records = draw(usages())
    stream = list(records) + draw(st.lists(st.sampled_from(records), max_size=30))
    stream = draw(st.permutations(stream))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    batches = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    grace = draw(st.sampled_from([0, 5_000_000, MINUTE_US]))
    return records, batches, grace


def _expected(records: list[Usage]) -> dict[WindowKey, list[int]]:
    out: dict[WindowKey, list[int]] = {}
    for u in records:
        key = WindowKey(u.tenant, u.agent, u.session, window_start(u.occurred_at_us))
        acc = out.setdefault(key, [0, 0, 0, 0, 0])
        for i, v in enumerate((u.tokens, u.tool_calls, u.storage_bytes, u.egress_bytes)):
            acc[i] += v
        acc[4] += u.cost_picocents
    return {k: [*v[:4], cents_half_up(v[4])] for k, v in out.items()}


def _run(batches: list[list[Usage]], grace: int) -> list[LedgerRow]:
    book = LedgerBook(grace)
    rows: list[LedgerRow] = []
    for batch in batches:
        for u in batch:
            book.add(u)
        rows += book.close_due()
    return rows + book.close_all()


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_ledger_sums_exactly_to_distinct_usage(
    case: tuple[list[Usage], list[list[Usage]], int],
) -> None:
    records, batches, grace = case
    rows = _run(batches, grace)
    assert totals_by_window(rows) == _expected(records)


@settings(max_examples=200, deadline=None)
@given(deliveries())
def test_revisions_are_consecutive_and_only_later_ones_correct(
    case: tuple[list[Usage], list[list[Usage]], int],
) -> None:
    _, batches, grace = case
    by_key: dict[WindowKey, list[int]] = {}
    for r in _run(batches, grace):
        by_key.setdefault(r.key, []).append(r.revision)
        assert r.is_correction == (r.revision > 0)
    for revisions in by_key.values():
        assert revisions == list(range(len(revisions)))
    ids = [r.event_id for r in _run(batches, grace)]
    assert len(ids) == len(set(ids))


@settings(max_examples=200, deadline=None)
@given(deliveries(), st.randoms())
def test_final_totals_do_not_depend_on_arrival_order(
    case: tuple[list[Usage], list[list[Usage]], int], rnd: object
) -> None:
    _, batches, grace = case
    flat = [u for b in batches for u in b]
    rnd.shuffle(flat)  # type: ignore[attr-defined]
    assert totals_by_window(_run([flat], grace)) == totals_by_window(_run(batches, grace))


def _usage(i: int, at_us: int, tokens: int = 10) -> Usage:
    tenant, session = TENANTS[0], SESSIONS[0]
    return Usage(str(uuid.UUID(int=i)), tenant, "planner", session, at_us, tokens, 0, 0, 0, 0)


def test_usage_within_grace_is_in_the_first_close() -> None:
    book = LedgerBook(grace_us=10_000_000)
    book.add(_usage(1, T0 + 1))
    book.add(_usage(2, T0 + MINUTE_US + 9_000_000))  # watermark T0+59s: window still open
    assert book.close_due() == []
    book.add(_usage(3, T0 + 59_000_000))  # late, but within grace
    book.add(_usage(4, T0 + MINUTE_US + 10_000_000))  # watermark reaches the window's end
    [row] = book.close_due()
    assert (row.revision, row.tokens, row.is_correction) == (0, 20, False)


def test_usage_after_close_is_a_delta_correction() -> None:
    book = LedgerBook(grace_us=0)
    book.add(_usage(1, T0))
    book.add(_usage(2, T0 + MINUTE_US))
    [first] = book.close_due()
    book.add(_usage(3, T0 + 5, tokens=7))
    book.add(_usage(3, T0 + 5, tokens=7))  # redelivery
    [fix] = book.close_due()
    assert (fix.revision, fix.tokens, fix.is_correction) == (1, 7, True)
    assert fix.key == first.key and fix.event_id != first.event_id


def test_wall_clock_closes_idle_windows() -> None:
    book = LedgerBook(grace_us=5_000_000)
    book.add(_usage(1, T0))
    assert book.close_due(now_us=T0 + MINUTE_US) == []
    assert [r.tokens for r in book.close_due(now_us=T0 + MINUTE_US + 5_000_000)] == [10]


def test_eviction_drops_state_and_refuses_older_usage() -> None:
    book = LedgerBook(grace_us=0, retention_us=2 * MINUTE_US)
    book.add(_usage(1, T0))
    book.add(_usage(2, T0 + 10 * MINUTE_US))
    book.close_due()
    gone = book.evict()
    assert [k.start_us for k, _ in gone] == [T0]
    with pytest.raises(TooLate, match="evicted"):
        book.add(_usage(3, T0 + 1))


def test_restored_state_continues_revisions_and_dedupe() -> None:
    book = LedgerBook(grace_us=0)
    book.add(_usage(1, T0))
    book.add(_usage(2, T0 + MINUTE_US))
    book.close_due()
    copy = LedgerBook(grace_us=0)
    for key, state in book.windows.items():
        from somagent.billing.ledger import WindowState

        copy.restore(key, WindowState.from_dict(state.to_dict()))
        for event_id in state.ids:
            copy.restore_id(key, event_id)
    assert copy.add(_usage(1, T0)) is False
    copy.add(_usage(3, T0, tokens=4))
    [fix] = copy.close_due()
    assert (fix.revision, fix.tokens) == (1, 4)
