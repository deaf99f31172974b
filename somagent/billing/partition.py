"""One input partition's billing state for at-least-once delivery (pure, no I/O).

The Faust ``billing`` agent has no Kafka transactions: its changelog records, its
ledger rows and its consumer offsets are written separately, and a crash can land
between any two. :class:`PartitionBook` makes every such crash harmless with
state records that each commit on their own:

* **Window record** (``w|<window key>``): the window's totals, the highest input
  offset counted into it, and its *pending* ledger rows. It is the commit point:
  a redelivered usage record at or below that offset is already in the totals.
* **Id record** (``i|<usage id>``): ``<window key>|<offset>``. It dedupes a usage
  record appended twice (at two offsets) and counts only when its offset is at or
  below its window record's offset, i.e. when that window record includes it; an
  id record written just before a crash, whose window record was not, is ignored.
* **Outbox.** A closed window's row is stored as pending in the window record
  *before* it is sent to ``billing.ledger``; after the send is acknowledged
  :meth:`confirm` clears it (persisted with the next records). A restore re-sends
  every pending row: same event id, same content, so consumers that dedupe by
  event id (both projectors) count it once.

Hence, after any crash and redelivery, the ledger still sums exactly to the
distinct usage records (the guarantee of :mod:`somagent.billing.ledger`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from somagent.billing.ledger import LedgerBook, LedgerRow, Usage, WindowKey, WindowState
from somagent.billing.windows import window_start

WINDOW_PREFIX = b"w|"
ID_PREFIX = b"i|"
StateRecord = tuple[bytes, bytes | None]


def key_from_text(text: str) -> WindowKey:
    """The :class:`WindowKey` of ``tenant/agent/session/start_us`` (``WindowKey.text``)."""
    tenant, rest = text.split("/", 1)
    agent, session, start = rest.rsplit("/", 2)
    return WindowKey(tenant, agent, session or None, int(start))


def row_to_dict(row: LedgerRow) -> dict[str, Any]:
    return {
        "revision": row.revision,
        "counts": [row.tokens, row.tool_calls, row.storage_bytes, row.egress_bytes],
        "cost_cents": row.cost_cents,
        "ts_us": row.ts_us,
    }


def row_from_dict(key: WindowKey, data: dict[str, Any]) -> LedgerRow:
    tokens, tool_calls, storage, egress = (int(v) for v in data["counts"])
    return LedgerRow(
        key,
        int(data["revision"]),
        tokens,
        tool_calls,
        storage,
        egress,
        int(data["cost_cents"]),
        int(data["ts_us"]),
    )


@dataclass
class PartitionBook:
    """A :class:`LedgerBook` plus per-window offsets, pending rows and dirty tracking.

    Offsets are the input partition's Kafka offsets; within a partition they
    arrive in increasing order (a redelivery restarts from an earlier one).
    """

    book: LedgerBook
    offsets: dict[WindowKey, int] = field(default_factory=dict)
    pending: dict[WindowKey, list[LedgerRow]] = field(default_factory=dict)
    _touched: set[WindowKey] = field(default_factory=set)
    _new_ids: list[tuple[WindowKey, str, int]] = field(default_factory=list)
    _tombstones: list[StateRecord] = field(default_factory=list)

    def accept(self, usage: Usage, offset: int) -> bool:
        """Count ``usage`` read at ``offset`` once; False if already counted.

        Raises:
            TooLate: from :meth:`LedgerBook.add` (its window was evicted).
        """
        key = WindowKey(
            usage.tenant, usage.agent, usage.session, window_start(usage.occurred_at_us)
        )
        if offset <= self.offsets.get(key, -1):
            return False  # redelivered: this window's record already includes it
        counted = self.book.add(usage)
        self.offsets[key] = offset
        self._touched.add(key)
        if counted:
            self._new_ids.append((key, usage.event_id, offset))
        return counted

    def close(self, now_us: int | None = None) -> list[LedgerRow]:
        """Close due windows; their rows become pending until :meth:`confirm`."""
        rows = self.book.close_due(now_us)
        for row in rows:
            self.pending.setdefault(row.key, []).append(row)
            self._touched.add(row.key)
        for key, ids in self.book.evict(now_us):
            self._tombstones.append((WINDOW_PREFIX + key.text().encode(), None))
            self._tombstones.extend((ID_PREFIX + i.encode(), None) for i in sorted(ids))
            self.offsets.pop(key, None)
            self.pending.pop(key, None)
            self._touched.discard(key)
        return rows

    def confirm(self, rows: Iterable[LedgerRow]) -> None:
        """``rows`` reached the ledger topic: drop them from pending (persisted next write)."""
        for row in rows:
            waiting = self.pending.get(row.key)
            if waiting and row in waiting:
                waiting.remove(row)
                if not waiting:
                    del self.pending[row.key]
                if row.key in self.book.windows:
                    self._touched.add(row.key)

    def records(self) -> list[StateRecord]:
        """Changelog records for everything changed since the last call (compacted keys)."""
        out: list[StateRecord] = [
            (ID_PREFIX + event_id.encode(), f"{key.text()}|{offset}".encode())
            for key, event_id, offset in self._new_ids
        ]
        for key in sorted(self._touched, key=lambda k: k.text()):
            state = self.book.windows.get(key)
            if state is None:
                continue
            value = {
                "state": state.to_dict(),
                "offset": self.offsets.get(key, -1),
                "pending": [row_to_dict(r) for r in self.pending.get(key, [])],
            }
            out.append((WINDOW_PREFIX + key.text().encode(), json.dumps(value).encode()))
        out.extend(self._tombstones)
        self._new_ids.clear()
        self._touched.clear()
        self._tombstones.clear()
        return out

    @property
    def busy(self) -> bool:
        """Whether a wall-clock tick may have work (open windows or unsent changes)."""
        return bool(self.book.open_windows_count() or self.pending or self._touched)

    @classmethod
    def restore(
        cls, records: Iterable[StateRecord], grace_us: int, retention_us: int
    ) -> PartitionBook:
        """Rebuild from a changelog partition's records (last value per key wins)."""
        latest: dict[bytes, bytes | None] = {}
        for key, value in records:
            latest[key] = value
        part = cls(LedgerBook(grace_us, retention_us))
        for raw_key, value in latest.items():
            if value is None or not raw_key.startswith(WINDOW_PREFIX):
                continue
            wkey = key_from_text(raw_key[len(WINDOW_PREFIX) :].decode())
            data = json.loads(value)
            part.book.restore(wkey, WindowState.from_dict(data["state"]))
            part.offsets[wkey] = int(data["offset"])
            rows = [row_from_dict(wkey, r) for r in data["pending"]]
            if rows:
                part.pending[wkey] = rows
        for raw_key, value in latest.items():
            if value is None or not raw_key.startswith(ID_PREFIX):
                continue
            text, _, offset = value.decode().rpartition("|")
            owner = key_from_text(text)
            if int(offset) <= part.offsets.get(owner, -1):  # else its window never committed it
                part.book.restore_id(owner, raw_key[len(ID_PREFIX) :].decode())
        return part

    def pending_rows(self) -> list[LedgerRow]:
        """Every row not yet confirmed, in window then revision order (re-sent on restore)."""
        rows = [r for waiting in self.pending.values() for r in waiting]
        return sorted(rows, key=lambda r: (r.key.start_us, r.key.text(), r.revision))
