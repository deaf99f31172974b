"""A turn's event stream: past records from the log, then live ones from the tailer.

Merge rule (no loss, no repeats): the stream subscribes to the tailer first
(snapshot ``live_from``), reads the turn's records in
``[TurnRequested offset + 1, live_from)`` from the log, then takes live records,
forwarding only offsets strictly greater than the last one it forwarded (or the
client's ``Last-Event-ID``). Everything is keyed by Kafka offset within the
turn's one partition (the key is the session), so order is the log's order.

The stream ends after ``TurnCompleted``; or, if none comes, ``stream_grace_s``
after the turn's deadline. Idle streams get a heartbeat every ``heartbeat_s``. A
client disconnect only ends the stream; the turn goes on.

:func:`turn_items` is the one place that rule lives; :func:`turn_stream` writes its
batches as SSE, the WebSocket edge (``routes_ws``) as JSON messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from somagent.api.context import EdgeContext
from somagent.api.history import ReadRange
from somagent.api.records import TurnRecord
from somagent.api.sse import HEARTBEAT, SSE_NAMES, event_frame, retry_frame
from somagent.api.tailer import LoggedEvent, Subscription
from somagent.api.tenant_guards import release_on_completion
from somagent.contract import names


def _observe(ctx: EdgeContext, item: LoggedEvent, origin: bool, failed: bool) -> None:
    name = SSE_NAMES.get(str(item.event.get("type")), "")
    ctx.metrics.sse_events.labels(name).inc()
    ctx.metrics.event_delay.observe((time.perf_counter_ns() - item.received_ns) / 1e9)
    if origin and item.event.get("type") == names.TURN_COMPLETED:
        release_on_completion(ctx, item.event.get("tenant") or "", item.turn or "")
        duration_s = int(item.event["payload"].get("duration_ms", 0)) / 1000.0
        ctx.metrics.turn_duration.observe(duration_s)
        if not failed:  # a failed turn's time (a timeout, an outage) is not service time
            ctx.admission.served(duration_s)


async def read_past(ctx: EdgeContext, sub: Subscription, record: TurnRecord) -> list[LoggedEvent]:
    """The turn's records logged before ``sub`` went live (empty for a new turn)."""
    end = sub.live_from.get(record.partition, 0)
    return await ctx.history.read(
        ReadRange(record.turn, record.session, record.partition, record.offset + 1, end)
    )


def _forwarded(item: LoggedEvent) -> bool:
    return str(item.event.get("type")) in SSE_NAMES


async def turn_items(
    ctx: EdgeContext,
    sub: Subscription,
    record: TurnRecord,
    past: list[LoggedEvent],
    *,
    after: int | None = None,
    origin: bool = False,
) -> AsyncGenerator[list[LoggedEvent], None]:
    """Batches of ``record``'s forwarded events strictly after offset ``after`` (if
    given), in log order; an empty batch means "idle for ``heartbeat_s``". Ends after
    ``TurnCompleted`` or the deadline plus grace; always releases ``sub``.

    ``past`` is what :func:`read_past` returned for the same subscription.
    ``origin`` marks the stream of the request that started the turn: only it feeds
    the turn-latency metric and the admission controller's service rate.
    """
    try:
        last = record.offset if after is None else max(after, record.offset)
        for item in past:
            if item.offset <= last:
                if item.event.get("type") == names.TURN_COMPLETED:
                    return  # the client already saw the end
                continue
            last = item.offset
            if _forwarded(item):
                yield [item]
            if item.event.get("type") == names.TURN_COMPLETED:
                return
        close_at_s = record.deadline_at_ms / 1000.0 + ctx.edge.stream_grace_s
        failed = False
        while True:
            remaining_s = close_at_s - time.time()
            if remaining_s <= 0:
                return
            try:  # asyncio.timeout: no extra task per event, unlike wait_for
                async with asyncio.timeout(min(ctx.edge.heartbeat_s, remaining_s)):
                    item = await sub.queue.get()
            except TimeoutError:
                yield []
                continue
            # Whatever else already arrived goes out in the same write.
            items = [item]
            while not sub.queue.empty():
                items.append(sub.queue.get_nowait())
            sent, finished = [], False
            for item in items:
                if item.partition != record.partition or item.offset <= last:
                    continue
                last = item.offset
                if _forwarded(item):
                    sent.append(item)
                if item.event.get("type") == names.TURN_COMPLETED:
                    finished = True
                    break
            if sent:
                yield sent
                for item in sent:
                    failed |= item.event.get("type") == names.TURN_FAILED
                    _observe(ctx, item, origin, failed)
            if finished:
                return
    finally:
        ctx.tailer.unsubscribe(sub)


async def turn_stream(
    ctx: EdgeContext,
    sub: Subscription,
    record: TurnRecord,
    past: list[LoggedEvent],
    *,
    after: int | None = None,
    origin: bool = False,
) -> AsyncIterator[bytes]:
    """SSE bytes of :func:`turn_items` (a heartbeat comment for an idle tick)."""
    ctx.metrics.streams_open.inc()
    try:
        yield retry_frame(ctx.edge.sse_retry_ms)
        async with aclosing(turn_items(ctx, sub, record, past, after=after,
                                       origin=origin)) as batches:
            async for batch in batches:
                if not batch:
                    yield HEARTBEAT
                    continue
                yield b"".join(chunk for i in batch if (chunk := event_frame(i)) is not None)
    finally:
        ctx.metrics.streams_open.dec()
