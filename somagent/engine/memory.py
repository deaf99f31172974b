"""The Faust ``memory`` agent: the remember-guard and the memory projector.

Reads ``memory.events`` (keyed by tenant, so a tenant's requests are decided in
order):

* ``MemoryRememberRequested`` → the guard decides (size, duplicates, PII was
  already hashed when the request was written) and appends ``MemoryRemembered``
  or ``MemoryRememberRejected`` with a deterministic event id;
* ``MemoryRemembered`` / ``CapsuleRevoked`` → the projector upserts into (or
  deletes from) Qdrant; upserts are keyed by memory id, so redelivery is a no-op.

A remember is acknowledged once ``MemoryRemembered`` is on the log; recall sees
it once this agent has applied it (``MemoryProjector.wait_for``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from somagent.contract import names
from somagent.contract.envelope import Envelope
from somagent.engine.driver import EventSink
from somagent.engine.faust_codec import event_topic
from somagent.events.catalog import MEMORY
from somagent.events.envelope import now_us
from somagent.memory.runtime import MemoryRuntime

log = logging.getLogger(__name__)


async def handle_memory_event(
    memory: MemoryRuntime, sink: EventSink, envelope: dict[str, Any], position: tuple[int, int]
) -> None:
    """Decide a request or project a decision (see the module doc)."""
    if envelope.get("type") == names.MEMORY_REMEMBER_REQUESTED:
        event_id, kind, payload = await asyncio.to_thread(memory.decider.decide_event, envelope)
        decided = Envelope(
            event_id=event_id,
            type=kind,
            ts=now_us(),
            tenant=envelope["tenant"],
            session=envelope.get("session"),
            turn=envelope.get("turn"),
            trace_id=envelope["trace_id"],
            seq=int(envelope.get("seq") or 0),
            producer="memory-guard",
            payload=payload,
        )
        await sink.publish([decided.to_dict()])
        return
    if envelope.get("type") == names.BRAIN_FEEDBACK_GIVEN:  # idempotent by event id
        await asyncio.to_thread(memory.brain.apply_event, envelope)
    await asyncio.to_thread(memory.projector.apply, envelope, position)


def register_memory(app: faust.App, memory: MemoryRuntime, sink: EventSink) -> Any:
    """Attach the ``memory`` agent to ``app``; returns the agent."""
    topic = event_topic(app, MEMORY)

    async def memory_agent(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            await handle_memory_event(memory, sink, event.value, (msg.partition, msg.offset))

    return app.agent(topic, name="memory")(memory_agent)
