"""Redis down while the engine claims a turn's Idempotency-Key (issue 19, the chaos race).

The chaos suite once lost an acknowledged turn: Redis restarted while the turns agent
claimed the request's Idempotency-Key, the claim raised, the Faust agent crashed and
the record it held was dropped. Here the race is forced, not hoped for: the worker has
a ``redis-server`` of its own, which is killed before the request is appended and
started again only once the worker has logged that the claim is unavailable. The turn
must then run to its end, once, and a retry with the same key must join it.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from engine_helpers import Client, TurnHandle, WorkerProcess, grant_default_policy, wait_for_worker

from somagent.config import Settings
from somagent.stack.process import free_port
from somagent.stack.redis_server import redis_server_binary
from somagent.wait import until

pytestmark = pytest.mark.integration

CLAIM_UNAVAILABLE = "Idempotency-Key claim unavailable"


class OwnRedis:
    """A real ``redis-server`` on a free loopback port, persisted to an append-only file
    (fsync on every write) so that a SIGKILL loses nothing the worker wrote."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.dir = home
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always",
                "--save", ""]
        with open(self.dir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        until(self._answers, timeout_s=30, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1.0)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path_factory.mktemp("worker-redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def worker_settings(settings: Settings, own_redis: OwnRedis) -> Settings:
    return settings.model_copy(update={"redis_url": own_redis.url})


@pytest.fixture(scope="module")
def outage_client(worker_settings: Settings) -> Iterator[Client]:
    c = Client(worker_settings)
    yield c
    c.close()


@pytest.fixture(scope="module")
def outage_worker(
    worker_settings: Settings, outage_client: Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(worker_settings, tmp_path_factory.mktemp("outage-home"))
    proc.start()
    try:
        wait_for_worker(outage_client, proc)
        yield proc
    finally:
        proc.stop()


def test_a_claim_during_a_redis_outage_waits_and_the_turn_runs_once(
    outage_worker: WorkerProcess, outage_client: Client, own_redis: OwnRedis,
    worker_settings: Settings,
) -> None:
    key, session = f"outage-{uuid.uuid4()}", str(uuid.uuid4())
    grant_default_policy(worker_settings, session)  # mint's write, made while Redis is up
    own_redis.kill()
    handle = outage_client.request("What is 6 * 7?", tools=("calc",), session=session,
                                   idempotency_key=key, grant_policy=False)
    until(lambda: CLAIM_UNAVAILABLE in outage_worker.log.read_text(errors="replace"),
          timeout_s=60, what="the worker to report the unavailable claim")
    assert outage_worker.proc is not None and outage_worker.proc.poll() is None, (
        f"the worker died during the outage:\n{outage_worker.tail()}")
    own_redis.start()
    events = outage_client.events(handle, timeout_s=90)
    types = [e["type"] for e in events]
    assert "TurnAnswered" in types and "TurnFailed" not in types, (types, outage_worker.tail())
    assert "Crashed" not in outage_worker.log.read_text(errors="replace")
    # The claim was made once Redis was back: a retry with the key is the same turn.
    retry: TurnHandle = outage_client.request("What is 6 * 7?", tools=("calc",),
                                              tenant=handle.tenant, session=session,
                                              idempotency_key=key)
    again = outage_client.events(retry, timeout_s=60)
    assert [e["type"] for e in again] == ["TurnFailed", "TurnCompleted"], again
    assert again[0]["payload"]["reason_code"] == "duplicate_request"
    assert handle.turn_id in again[0]["payload"]["message"]
