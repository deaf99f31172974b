"""The ledger state machine: usage records in, closed-window ledger rows out (pure).

Guarantees (checked by the property tests in ``tests/unit/billing``):

* **Dedupe by event id.** A usage record whose id the book has already counted is
  ignored (:meth:`LedgerBook.add` returns False), however often it is redelivered,
  as long as its window's state is retained (``retention_us`` past the watermark).
* **Exact sums.** For every window, the rows emitted for it sum to the totals of
  its distinct usage records: revision 0 carries what arrived before the window
  closed, each correction (revision 1, 2, …, ``is_correction``) only the delta of
  what arrived after. ``cost_cents`` sums to ``cents_half_up`` of the window's
  exact picocent cost (see :mod:`somagent.billing.pricebook`).
* **Event time.** A window closes once the watermark (largest event time seen,
  or the wall clock when given, minus the grace period) reaches its end; usage up
  to ``grace_us`` late never becomes a correction.
* **Deterministic output.** Rows are emitted in (window start, tenant, agent,
  session) order and their event ids depend only on the window key and revision.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from somagent.billing.exceptions import TooLate
from somagent.billing.pricebook import cents_half_up
from somagent.billing.windows import MINUTE_US, is_due, window_start
from somagent.contract import names
from somagent.contract.envelope import Envelope
from somagent.contract.ids import ledger_event_id

PRODUCER = "billing"
DEFAULT_RETENTION_US = 7 * 24 * 3600 * 1_000_000


class WindowKey(NamedTuple):
    """A one-minute window of one (tenant, agent, session); ids as canonical strings."""

    tenant: str
    agent: str
    session: str | None
    start_us: int

    def text(self) -> str:
        """``tenant/agent/session/start_us``: the ledger topic's key for this window."""
        return f"{self.tenant}/{self.agent}/{self.session or ''}/{self.start_us}"


class Usage(NamedTuple):
    """One decoded usage record, already priced (``cost_picocents`` exact)."""

    event_id: str
    tenant: str
    agent: str
    session: str | None
    occurred_at_us: int
    tokens: int
    tool_calls: int
    storage_bytes: int
    egress_bytes: int
    cost_picocents: int


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One ``UsageWindowClosed`` row; counts are the window's (or the correction's delta)."""

    key: WindowKey
    revision: int
    tokens: int
    tool_calls: int
    storage_bytes: int
    egress_bytes: int
    cost_cents: int
    ts_us: int

    @property
    def is_correction(self) -> bool:
        return self.revision > 0

    @property
    def event_id(self) -> str:
        k = self.key
        return ledger_event_id(k.tenant, k.agent, k.session, k.start_us, self.revision)

    def payload(self) -> dict[str, Any]:
        """The ``UsageWindowClosed`` payload (Avro field names)."""
        return {
            "tenant": self.key.tenant,
            "agent": self.key.agent,
            "session": self.key.session,
            "window_start": self.key.start_us,
            "tokens": self.tokens,
            "tool_calls": self.tool_calls,
            "storage_bytes": self.storage_bytes,
            "egress_bytes": self.egress_bytes,
            "cost_cents": self.cost_cents,
            "revision": self.revision,
            "is_correction": self.is_correction,
        }

    def envelope(self) -> dict[str, Any]:
        """The full event for ``billing.ledger``; every field is deterministic."""
        event_id = self.event_id
        return Envelope(
            event_id=event_id,
            type=names.USAGE_WINDOW_CLOSED,
            ts=self.ts_us,
            tenant=self.key.tenant,
            session=self.key.session,
            turn=None,
            trace_id=event_id.replace("-", ""),
            seq=self.revision,
            producer=PRODUCER,
            payload=self.payload(),
        ).to_dict()


@dataclass(slots=True)
class WindowState:
    """Everything the book knows about one window; ``totals`` include unemitted usage.

    ``totals``/``emitted`` are [tokens, tool_calls, storage_bytes, egress_bytes,
    cost_picocents]; ``emitted_cents`` is what the emitted rows' cost_cents sum to.
    """

    totals: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    emitted: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    emitted_cents: int = 0
    next_revision: int = 0
    closed: bool = False
    pending_ts_us: int = 0
    ids: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state without ids (those are stored one record per id)."""
        return {
            "totals": list(self.totals),
            "emitted": list(self.emitted),
            "emitted_cents": self.emitted_cents,
            "next_revision": self.next_revision,
            "closed": self.closed,
            "pending_ts_us": self.pending_ts_us,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowState:
        return cls(
            totals=[int(v) for v in data["totals"]],
            emitted=[int(v) for v in data["emitted"]],
            emitted_cents=int(data["emitted_cents"]),
            next_revision=int(data["next_revision"]),
            closed=bool(data["closed"]),
            pending_ts_us=int(data["pending_ts_us"]),
        )


class LedgerBook:
    """Windows of one input partition (or any stream whose order it sees).

    Not thread-safe. ``grace_us`` is how late usage may arrive and still be in the
    first close; ``retention_us`` how long past the watermark a closed window's
    state (and its dedupe ids) is kept before :meth:`evict` drops it.
    """

    def __init__(self, grace_us: int, retention_us: int = DEFAULT_RETENTION_US) -> None:
        if grace_us < 0 or retention_us < MINUTE_US:
            raise ValueError("grace_us must be >= 0 and retention_us at least one minute")
        self.grace_us = grace_us
        self.retention_us = retention_us
        self.max_event_us: int | None = None
        self.floor_us: int | None = None  # windows starting before this were evicted
        self.windows: dict[WindowKey, WindowState] = {}
        self._open: set[WindowKey] = set()
        self._dirty: set[WindowKey] = set()  # closed windows with unemitted usage

    def watermark(self, now_us: int | None = None) -> int | None:
        """Event-time watermark, raised to ``now_us - grace`` when a wall clock is given."""
        marks = [t for t in (self.max_event_us, now_us) if t is not None]
        return max(marks) - self.grace_us if marks else None

    def add(self, usage: Usage) -> bool:
        """Count ``usage`` once; return False for an id already counted.

        Raises:
            TooLate: its window was evicted (older than the retention), so it can
                be neither deduplicated nor corrected; the caller dead-letters it.
        """
        start = window_start(usage.occurred_at_us)
        key = WindowKey(usage.tenant, usage.agent, usage.session, start)
        state = self.windows.get(key)
        if state is None:
            if self.floor_us is not None and key.start_us < self.floor_us:
                raise TooLate(
                    f"usage {usage.event_id} of tenant {usage.tenant} for window "
                    f"{key.text()} arrived after the window's state was evicted"
                )
            state = self.windows[key] = WindowState()
            self._open.add(key)
        elif usage.event_id in state.ids:
            return False
        state.ids.add(usage.event_id)
        t = state.totals
        t[0] += usage.tokens
        t[1] += usage.tool_calls
        t[2] += usage.storage_bytes
        t[3] += usage.egress_bytes
        t[4] += usage.cost_picocents
        if usage.occurred_at_us > state.pending_ts_us:
            state.pending_ts_us = usage.occurred_at_us
        if state.closed:
            self._dirty.add(key)
        if self.max_event_us is None or usage.occurred_at_us > self.max_event_us:
            self.max_event_us = usage.occurred_at_us
        return True

    def oldest_open_start_us(self) -> int | None:
        """Start of the oldest window not yet closed (None when every window is closed)."""
        return min((k.start_us for k in self._open), default=None)

    def close_due(self, now_us: int | None = None) -> list[LedgerRow]:
        """Rows for windows that became due and corrections for late usage, in order."""
        mark = self.watermark(now_us)
        due = [k for k in self._open if mark is not None and is_due(k.start_us, mark)]
        keys = sorted([*due, *self._dirty], key=_order)
        rows = [self._emit(k) for k in keys]
        self._open.difference_update(due)
        self._dirty.clear()
        return [r for r in rows if r is not None]

    def close_all(self) -> list[LedgerRow]:
        """Close every open window now (shutdown of a finite stream, tests, replays)."""
        keys = sorted([*self._open, *self._dirty], key=_order)
        rows = [self._emit(k) for k in keys]
        self._open.clear()
        self._dirty.clear()
        return [r for r in rows if r is not None]

    def _emit(self, key: WindowKey) -> LedgerRow | None:
        state = self.windows[key]
        state.closed = True
        t, e = state.totals, state.emitted
        cents = cents_half_up(t[4])
        delta = [t[i] - e[i] for i in range(4)]
        if state.next_revision > 0 and not any(delta) and cents == state.emitted_cents:
            return None  # nothing new (e.g. a zero-count late record)
        row = LedgerRow(
            key,
            state.next_revision,
            delta[0],
            delta[1],
            delta[2],
            delta[3],
            cents - state.emitted_cents,
            max(state.pending_ts_us, key.start_us),
        )
        state.emitted = list(t)
        state.emitted_cents = cents
        state.next_revision += 1
        return row

    def evict(self, now_us: int | None = None) -> list[tuple[WindowKey, set[str]]]:
        """Drop closed windows that ended more than ``retention_us`` before the watermark.

        Returns each dropped window with its ids, so a durable store can delete them.
        """
        mark = self.watermark(now_us)
        if mark is None:
            return []
        floor = window_start(mark - self.retention_us)
        gone = [
            k
            for k, s in self.windows.items()
            if k.start_us < floor and s.closed and k not in self._dirty
        ]
        self.floor_us = floor if self.floor_us is None else max(self.floor_us, floor)
        return [(k, self.windows.pop(k).ids) for k in gone]

    def restore(self, key: WindowKey, state: WindowState) -> None:
        """Put back a window read from durable state (ids may follow via :meth:`restore_id`)."""
        self.windows[key] = state
        if not state.closed:
            self._open.add(key)
        elif state.totals != state.emitted:
            self._dirty.add(key)
        last = state.pending_ts_us
        if last and (self.max_event_us is None or last > self.max_event_us):
            self.max_event_us = last

    def restore_id(self, key: WindowKey, event_id: str) -> None:
        state = self.windows.get(key)
        if state is not None:
            state.ids.add(event_id)

    def open_windows_count(self) -> int:
        """Windows not yet closed plus closed ones with unemitted usage."""
        return len(self._open) + len(self._dirty)

    def open_windows(self) -> Iterator[WindowKey]:
        return iter(sorted(self._open, key=_order))


def _order(key: WindowKey) -> tuple[int, str, str, str]:
    return (key.start_us, key.tenant, key.agent, key.session or "")


def totals_by_window(rows: Iterable[LedgerRow]) -> dict[WindowKey, list[int]]:
    """Sum rows per window: [tokens, tool_calls, storage_bytes, egress_bytes, cost_cents]."""
    out: dict[WindowKey, list[int]] = {}
    for r in rows:
        acc = out.setdefault(r.key, [0, 0, 0, 0, 0])
        values = (r.tokens, r.tool_calls, r.storage_bytes, r.egress_bytes, r.cost_cents)
        for i, v in enumerate(values):
            acc[i] += v
    return out
