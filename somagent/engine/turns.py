"""The Faust ``turns`` agent: reads ``conversation.events``, drives each requested turn.

Thin by design: decode (the Avro Faust codec), hand the envelope to the
:class:`~somagent.engine.driver.TurnDriver`, which runs the pure machine.

* ``TurnRequested`` → the turn is driven to its end inside the agent, so the
  record's offset is acknowledged (and committed, gap-free) only once the turn
  finished. A worker killed mid-turn gets the record again after restart and
  the driver resumes from the turn's state in the ``turn-progress`` table.
* ``TurnCancelRequested`` → the running turn is interrupted, or its stored state
  marked so a later resume fails it with ``cancelled``.
* Every other type is the engine's own output and is skipped.

The agent runs with ``concurrency`` actors so one slow turn does not hold up the
others (and a cancel can overtake the turn it cancels); Faust commits only
offsets below the lowest unfinished one.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from opentelemetry.trace import SpanKind

from somagent.contract import names
from somagent.engine.driver import TurnDriver
from somagent.engine.faust_codec import decode_if, raw_topic
from somagent.events.catalog import CONVERSATION
from somagent.events.tracing import HEADER
from somagent.telemetry import tracing

log = logging.getLogger(__name__)

PROGRESS_TABLE = "turn-progress"


class TableProgress:
    """Turn state in a changelog-backed Faust table (JSON values keyed by turn id).

    Writes happen inside the agent's event context, so each change goes to the
    changelog partition of the record being processed and a restarted worker
    recovers the table from the changelog before it processes anything.
    """

    def __init__(self, table: Any) -> None:
        self.table = table

    def load(self, turn_id: str) -> dict[str, Any] | None:
        value = self.table.get(turn_id)
        return dict(value) if value else None

    def save(self, turn_id: str, state: dict[str, Any]) -> None:
        self.table[turn_id] = state


def progress_table(app: faust.App, partitions: int) -> Any:
    # Co-partitioned with conversation.events: same partition count.
    return app.Table(PROGRESS_TABLE, default=None, partitions=partitions)


WANTED = frozenset((names.TURN_REQUESTED, names.TURN_CANCEL_REQUESTED))


class ReadCount:
    """Records the ``turns`` agent has read (its health check's progress signal)."""

    def __init__(self) -> None:
        self.value = 0


def register_turns(
    app: faust.App, driver: TurnDriver, *, concurrency: int = 16, read: ReadCount | None = None
) -> Any:
    """Attach the ``turns`` agent to ``app``; returns the agent.

    The topic is read raw and only requests and cancels are decoded (by their
    ``event-type`` header): the engine's own events, most of the topic, are acked
    without decoding.
    """
    topic = raw_topic(app, CONVERSATION)

    async def turns(stream: Any) -> None:
        async for event in stream.events():
            if read is not None:
                read.value += 1
            envelope = decode_if(event.message, WANTED)
            if envelope is None:
                continue
            kind = envelope.get("type")
            if kind == names.TURN_REQUESTED:
                headers = dict(event.message.headers or {})
                raw = headers.get(HEADER)
                with tracing.span("turn", traceparent=raw.decode() if raw else None,
                                  kind=SpanKind.CONSUMER,
                                  attributes={"somagent.turn_id": str(envelope.get("turn")),
                                              "somagent.tenant": str(envelope.get("tenant"))}):
                    await driver.on_requested(envelope)
            elif kind == names.TURN_CANCEL_REQUESTED:
                turn_id = str(envelope.get("turn") or envelope["payload"].get("turn_id"))
                if not driver.on_cancel(turn_id):
                    driver.mark_cancelled(turn_id)

    return app.agent(topic, name="turns", concurrency=concurrency)(turns)
