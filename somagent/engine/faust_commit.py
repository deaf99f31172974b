"""Faust never commits past a message that is still being processed (faust-streaming #606).

faust-streaming 0.11–0.15 computes the offset to commit in
``Consumer._new_offset`` from the run of acknowledged offsets, and withholds the
commit only when the run starts *more than one* offset past the committed one. A
``TurnRequested`` that is still being driven sits exactly at the committed offset
while the turn's own output events after it (same partition, skipped by the agent)
are acknowledged, so Faust committed straight over it: a worker killed at that
moment lost the turn. Upstream fix: faust-streaming PR #707 (open); remove this
module once the pinned Faust contains it.

:func:`install` replaces ``_new_offset`` with :func:`safe_new_offset`, which keeps
Faust's gap handling and guarantees (at least once):

* never a commit past the lowest offset of a message handed to the streams and not
  yet acknowledged (Faust tracks every fetched message in ``_unacked_messages``
  before delivering it, in offset order, so nothing below that offset is unseen);
* Faust's tolerance of a one-offset hole right after the committed offset (a
  transaction marker) is kept, as are its gap intervals;
* acknowledged offsets above the cap stay pending and are committed later.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer
from faust.utils.functional import consecutive_numbers

_INSTALLED = False


def _merge_gaps(consumer: Any, tp: Any, acked: list[int]) -> None:
    """Faust's own step: offsets known to hold no record count as acknowledged."""
    gap_for_tp = consumer._gap[tp]
    if not gap_for_tp:
        return
    candidates = sorted(gap_for_tp.overlap(0, max(acked)), key=lambda x: x.begin)
    if not candidates:
        return
    extra: list[int] = []
    for entry in candidates:
        extra.extend(range(entry.begin, entry.end))
    acked.extend(extra)
    gap_for_tp.chop(0, max(extra[-1], max(acked) + 1))


def safe_new_offset(consumer: Any, tp: Any) -> int | None:
    """The offset to commit for ``tp`` (the next one to read), or None (see the module doc)."""
    acked: list[int] = consumer._acked[tp]
    if not acked:
        return None
    _merge_gaps(consumer, tp, acked)
    acked.sort()
    committed = consumer._committed_offset[tp]
    if committed and acked[0] - committed > 1:
        return None  # Faust's own head-gap rule
    batch = next(consecutive_numbers(acked))
    in_flight = [m.offset for m in list(consumer._unacked_messages) if m.tp == tp]
    if in_flight:
        cap = min(in_flight)
        batch = [offset for offset in batch if offset < cap]
    if not batch:
        return None
    del acked[: len(batch)]
    consumer._acked_index[tp].difference_update(batch)
    return int(batch[-1]) + 1


def install() -> None:
    """Make every Faust consumer in this process use :func:`safe_new_offset` (idempotent)."""
    global _INSTALLED
    if not _INSTALLED:
        Consumer._new_offset = safe_new_offset  # type: ignore[method-assign,assignment]
        _INSTALLED = True
