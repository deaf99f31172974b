"""SIGKILL the Memory Gateway while remembers stream in, start it again on the same home:
every acknowledged remember (and every request that reached the log) is recallable,
once, from the restarted gateway's Qdrant Edge shard."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from gateway_process import GatewayProcess, memory_events

from somagent.config import Settings
from somagent.credentials import service_token
from somagent.events.codec import EventCodec
from somagent.memory.client import MemoryGatewayClient, MemoryGatewayError, RememberReceipt
from somagent.memory.remember import MEMORY_REMEMBER_REQUESTED
from somagent.wait import until_async

pytestmark = pytest.mark.integration

TEXTS = [f"Kill test fact {i}: the {w} crate sits on shelf {i * 7}" for i, w in
         enumerate(["red", "blue", "green", "amber", "violet", "black", "white", "grey"] * 6)]
KILL_AFTER = 15  # acknowledged remembers before the SIGKILL


async def _stream(
    client: MemoryGatewayClient, tenant: str, acked: list[RememberReceipt], killed: asyncio.Event
) -> None:
    """Remember TEXTS four at a time until the gateway goes away."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in TEXTS:
        queue.put_nowait(text)

    async def sender() -> None:
        while not queue.empty() and not killed.is_set():
            text = queue.get_nowait()
            try:
                acked.append(await client.remember(tenant, text, source="test",
                                                   trace_id=uuid.uuid4().hex))
            except MemoryGatewayError:
                return  # the gateway is gone: this request was not acknowledged

    await asyncio.gather(*(sender() for _ in range(4)))


async def test_acknowledged_remembers_survive_sigkill(
    settings: Settings, tmp_path: Path
) -> None:
    gateway = GatewayProcess(settings, tmp_path / "gw", vector_engine="edge")
    gateway.start()
    client = MemoryGatewayClient(gateway.url, service_token(gateway.settings.home_dir),
                                 timeout_s=30.0)
    tenant = str(uuid.uuid4())
    try:
        first = await client.remember(tenant, "Warm-up fact before the kill", source="test",
                                      trace_id=uuid.uuid4().hex, wait_ms=30_000)
        assert first.status == "remembered"
        acked: list[RememberReceipt] = [first]
        killed = asyncio.Event()
        streaming = asyncio.create_task(_stream(client, tenant, acked, killed))
        await until_async(_at_least(acked, KILL_AFTER + 1), timeout_s=60, what="acknowledgements")
        await asyncio.to_thread(gateway.kill)
        killed.set()
        await streaming
        assert len(acked) < len(TEXTS) + 1, "the kill came after the stream ended"

        gateway.start()  # same home (shard, WAL), same consumer group
        on_log = await asyncio.to_thread(
            memory_events, settings, EventCodec(),
            lambda e: str(e["tenant"]) == tenant and e["type"] == MEMORY_REMEMBER_REQUESTED,
        )
        requested = {str(e["payload"]["memory_id"]) for e in on_log}
        assert {r.memory_id for r in acked} <= requested

        async def all_recalled() -> list[str] | None:
            blocks = await client.recall(tenant, "Kill test fact crate shelf", 50)
            ids = [b.memory_id for b in blocks]
            return ids if set(ids) == requested else None

        ids = await until_async(all_recalled, timeout_s=120, what="every request recalled")
        assert len(ids) == len(set(ids)) == len(requested)  # no duplicates
    finally:
        await client.aclose()
        gateway.stop()


def _at_least(acked: list[RememberReceipt], n: int):  # type: ignore[no-untyped-def]
    async def probe() -> bool:
        return len(acked) >= n

    return probe
