"""PartitionBook under at-least-once delivery: crashes anywhere, redelivery, duplicates.

A model of the Faust billing agent's loop (state records → ledger rows → ack) with
a crash injected mid-batch: only a prefix of the batch's state records reaches the
changelog, the ledger rows may or may not, and the input is redelivered from the
start of the batch. The ledger, deduplicated by event id as both projectors do,
must still sum exactly to the distinct usage records, and one event id must
always carry the same content.
"""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.billing.ledger import LedgerBook, LedgerRow, Usage, WindowKey, totals_by_window
from somagent.billing.partition import PartitionBook, StateRecord
from somagent.billing.pricebook import cents_half_up
from somagent.billing.windows import MINUTE_US, window_start

T0 = 1_795_000_020_000_000 - 1_795_000_020_000_000 % MINUTE_US
TENANT = str(uuid.UUID(int=1))
FAR_FUTURE_US = T0 + 10**12


def usage(i: int, at_us: int, tokens: int, session: int) -> Usage:
    return Usage(
        str(uuid.UUID(int=10_000 + i)),
        TENANT,
        "planner",
        str(uuid.UUID(int=100 + session)),
        at_us,
        tokens,
        i % 2,
        0,
        7,
        tokens * 10**9 + 3,
    )


@st.composite
def logs(draw: st.DrawFn) -> list[Usage]:
    """A partition's log: usage records, some appended twice (same id, later offset)."""
    n = draw(st.integers(1, 40))
    out = [
        usage(i, T0 + draw(st.integers(0, 5 * MINUTE_US)), draw(st.integers(0, 999)), i % 2)
        for i in range(n)
    ]
    for j in draw(st.lists(st.integers(0, n - 1), max_size=8)):
        out.append(out[j])
    return out


def expected(log: list[Usage]) -> dict[WindowKey, list[int]]:
    totals: dict[WindowKey, list[int]] = {}
    for u in {u.event_id: u for u in log}.values():
        key = WindowKey(u.tenant, u.agent, u.session, window_start(u.occurred_at_us))
        acc = totals.setdefault(key, [0, 0, 0, 0, 0])
        for i, v in enumerate((u.tokens, u.tool_calls, u.storage_bytes, u.egress_bytes)):
            acc[i] += v
        acc[4] += u.cost_picocents
    return {k: [*v[:4], cents_half_up(v[4])] for k, v in totals.items()}


def run_batches(
    part: PartitionBook,
    log: list[Usage],
    start: int,
    batch: int,
    changelog: list[StateRecord],
    ledger: list[LedgerRow],
    crash: tuple[int, int, bool] | None = None,
) -> int | None:
    """Process ``log[start:]``; with ``crash=(batch_no, records_kept, rows_sent)`` stop
    mid-batch and return the offset redelivery restarts from."""
    for n, first in enumerate(range(start, len(log), batch)):
        for offset in range(first, min(first + batch, len(log))):
            part.accept(log[offset], offset)
        rows = part.close()
        records = part.records()
        if crash is not None and crash[0] == n:
            changelog.extend(records[: crash[1]])
            if crash[1] >= len(records) and crash[2]:
                ledger.extend(rows)  # rows go out only after all state records are acked
            return first
        changelog.extend(records)
        ledger.extend(rows)
        part.confirm(rows)
    return None


def finish(part: PartitionBook, changelog: list[StateRecord], ledger: list[LedgerRow]) -> None:
    rows = part.close(FAR_FUTURE_US)
    changelog.extend(part.records())
    ledger.extend(rows)
    part.confirm(rows)


@settings(max_examples=300, deadline=None)
@given(
    log=logs(),
    batch=st.integers(1, 7),
    crash_batch=st.integers(0, 8),
    kept=st.integers(0, 30),
    sent=st.booleans(),
)
def test_ledger_is_exact_after_a_crash_anywhere(
    log: list[Usage], batch: int, crash_batch: int, kept: int, sent: bool
) -> None:
    changelog: list[StateRecord] = []
    ledger: list[LedgerRow] = []
    part = PartitionBook(LedgerBook(grace_us=0))
    restart = run_batches(part, log, 0, batch, changelog, ledger, (crash_batch, kept, sent))
    if restart is not None:
        part = PartitionBook.restore(changelog, 0, LedgerBook(0).retention_us)
        pending = part.pending_rows()
        ledger.extend(pending)  # re-sent on restore
        part.confirm(pending)
        run_batches(part, log, restart, batch, changelog, ledger)
    finish(part, changelog, ledger)

    by_id: dict[str, LedgerRow] = {}
    for row in ledger:
        assert by_id.setdefault(row.event_id, row) == row, "one event id, two contents"
    assert totals_by_window(by_id.values()) == expected(log)


def test_redelivered_offsets_and_duplicate_ids_count_once() -> None:
    part = PartitionBook(LedgerBook(grace_us=0))
    u = usage(1, T0, 10, 0)
    assert part.accept(u, 5)
    assert not part.accept(u, 5)  # redelivery of the same offset
    assert not part.accept(u, 9)  # the same usage appended again
    assert part.accept(usage(2, T0, 1, 0), 10)


def test_an_id_record_without_its_window_record_is_ignored_on_restore() -> None:
    part = PartitionBook(LedgerBook(grace_us=0))
    part.accept(usage(1, T0, 10, 0), 0)
    records = part.records()
    ids = [r for r in records if r[0].startswith(b"i|")]
    restored = PartitionBook.restore(ids, 0, LedgerBook(0).retention_us)
    assert restored.accept(usage(1, T0, 10, 0), 0), "the window never committed the usage"


def test_pending_rows_survive_until_confirmed() -> None:
    part = PartitionBook(LedgerBook(grace_us=0))
    part.accept(usage(1, T0, 10, 0), 0)
    part.accept(usage(2, T0 + 2 * MINUTE_US, 1, 0), 1)  # watermark passes the first window
    rows = part.close()
    assert len(rows) == 1
    restored = PartitionBook.restore(part.records(), 0, LedgerBook(0).retention_us)
    assert restored.pending_rows() == rows
    part.confirm(rows)
    assert PartitionBook.restore(part.records(), 0, LedgerBook(0).retention_us).pending == {}
