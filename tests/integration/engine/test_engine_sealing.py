"""Sealed PII through a real turn worker: the worker opens the sealed request, answers,
and seals what it appends; after the tenant's key is destroyed the log still decodes
but the text reads as erased."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from engine_helpers import Client, WorkerProcess, wait_for_worker

from somagent.config import Settings
from somagent.erasure.cipher import ERASED
from somagent.erasure.keys import TenantKeys
from somagent.erasure.master import master_key
from somagent.erasure.sealer import FieldSealer
from somagent.events.codec import EventCodec
from somagent.kafka.schema_log import kafka_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sealing(settings: Settings) -> Settings:
    return settings.model_copy(update={"seal_pii": True})


@pytest.fixture(scope="module")
def sealed_worker(sealing: Settings, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[Client, WorkerProcess]]:
    client = Client(sealing)  # seals what it appends, reads sealed values as they are
    proc = WorkerProcess(sealing, Path(tmp_path_factory.mktemp("sealed-worker")))
    proc.start()
    try:
        wait_for_worker(client, proc)
        yield client, proc
    finally:
        proc.stop()
        client.close()


def test_a_turn_runs_on_sealed_text_and_its_answer_is_sealed_until_erased(
    sealing: Settings, sealed_worker: tuple[Client, WorkerProcess]
) -> None:
    client, _ = sealed_worker
    tenant = str(uuid.uuid4())
    handle = client.request("What is 6 * 7?", tools=("calc",), tenant=tenant)
    events = client.events(handle)
    answered = next(e for e in events if e["type"] == "TurnAnswered")
    assert str(answered["payload"]["text"]).startswith("enc1:")
    tool_results = [e for e in events if e["type"] == "ToolCallCompleted"]
    assert tool_results and all(str(e["payload"]["result_json"]).startswith("enc1:")
                                for e in tool_results)
    opener = EventCodec(kafka_registry(sealing),
                        sealer=FieldSealer(sealing, open_fields=True, refresh_s=0.0))

    def opened(event: dict[str, object]) -> dict[str, object]:
        payload = opener.sealer.open(  # type: ignore[union-attr]
            str(event["type"]), str(event["tenant"]), event["payload"])  # type: ignore[arg-type]
        return dict(payload)

    assert "42" in str(opened(answered)["text"])  # the worker read the sealed request

    async def destroy() -> None:
        pool = await asyncpg.create_pool(sealing.postgres_dsn, min_size=1, max_size=2)
        try:
            await TenantKeys(pool, master_key(sealing.home_dir)).destroy(tenant)
        finally:
            await pool.close()

    asyncio.run(destroy())
    assert opened(answered)["text"] == ERASED
    assert all(opened(e)["result_json"] == ERASED for e in tool_results)
