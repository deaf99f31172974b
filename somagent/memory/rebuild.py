"""At gateway start: rebuild a new collection and the brain from ``memory.events``.

The gateway's Faust group resumes ``memory.events`` at its committed offsets, so what
came before them is not seen again by the agent. Two things need it anyway:

* a collection opened for the first time (a new installation, or an upgrade that
  switched ``SOMAGENT_EMBEDDER``: every embedder has its own collection) must hold
  every memory remembered so far: the ``MemoryRemembered`` and ``CapsuleRevoked``
  events before the committed offsets are projected into it (embedded in batches;
  upserts are idempotent, so a crash midway just repeats work). A marker file
  ``<home>/memory/<collection>.rebuilt`` records that it was done;
* the brain's state (weights, FRGO graph, usefulness, ρ feedback) lives only in
  the log: every ``BrainFeedbackGiven`` before the committed offsets is applied
  again (at every start).

Everything from the committed offsets on is the Faust agent's, as before. A new
group has no commits: there is nothing to replay, the agent reads from offset 0.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from somagent.config import Settings
from somagent.contract import names
from somagent.events.catalog import MEMORY
from somagent.kafka.admin import committed_offsets
from somagent.kafka.reader import LogReader
from somagent.kafka.schema_log import kafka_codec
from somagent.memory.remember import memory_record, remembered_text
from somagent.memory.runtime import MemoryRuntime

log = logging.getLogger(__name__)
_BATCH = 64


def marker_path(settings: Settings, collection: str) -> Path:
    return settings.home_dir / "memory" / f"{collection}.rebuilt"


def _flush(memory: MemoryRuntime, pending: list[Mapping[str, Any]]) -> None:
    if not pending:
        return
    vectors = memory.embedder.embed([remembered_text(e) for e in pending])
    records = [memory_record(e, vectors[i]) for i, e in enumerate(pending)]
    memory.store.upsert(records)
    for record in records:
        memory.brain.on_record(record)
    pending.clear()


def replay_before_commits(settings: Settings, group: str, memory: MemoryRuntime) -> dict[str, int]:
    """Replay ``memory.events`` up to ``group``'s committed offsets (see the module doc).

    Returns counts: ``remembered`` projected, ``feedback`` applied, ``records`` read.
    """
    commits = committed_offsets(settings, group, [MEMORY])
    marker = marker_path(settings, memory.collection)
    rebuild = not marker.exists()
    counts = {"records": 0, "remembered": 0, "feedback": 0}
    if commits:
        with LogReader(
            settings, list(commits), {tp: 0 for tp in commits}, name=f"{group}-replay",
            codec=kafka_codec(settings, open_fields=True), dead_letters=False,
        ) as reader:
            pending: list[Mapping[str, Any]] = []
            while not reader.caught_up(commits):
                for record in reader.batch(timeout_s=0.5):
                    if record.offset >= commits[(record.topic, record.partition)]:
                        continue
                    counts["records"] += 1
                    event, kind = record.event, record.event.get("type")
                    if kind == names.BRAIN_FEEDBACK_GIVEN:
                        memory.brain.apply_event(event)
                        counts["feedback"] += 1
                    elif rebuild and kind == names.MEMORY_REMEMBERED:
                        pending.append(event)
                        counts["remembered"] += 1
                        if len(pending) >= _BATCH:
                            _flush(memory, pending)
                    elif rebuild and kind in (names.CAPSULE_REVOKED, names.TENANT_DATA_ERASED):
                        _flush(memory, pending)
                        memory.projector.apply(event)
            _flush(memory, pending)
    if rebuild:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({f"{t}:{p}": o for (t, p), o in commits.items()}))
    log.info("memory gateway replayed %s before the group's commits %s", counts, commits)
    return counts
