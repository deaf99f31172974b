"""``somagent serve policy``: the constitution service.

* ``POST /logs`` (``127.0.0.1:SOMAGENT_POLICY_PORT``, or ``SOMAGENT_POLICY_HOST``): the
  endpoint OPA's ``decision_logs`` plugin uploads to; every decision is appended
  to ``policy.decisions`` (acknowledged before the 204, so OPA re-sends a batch
  whose upload failed; the event id is the decision id, so re-sent entries are the
  same events). A body that is not a decision-log batch is 400 and appends nothing.
* Every ``SYNC_INTERVAL_S`` it makes OPA hold the gate rules and exactly the active
  policies (:meth:`PolicyService.sync`), so an OPA that restarted empty is refilled.
* Health on ``SOMAGENT_HEALTH_PORT`` (the last sync's outcome); ``/metrics`` counts
  shipped decisions (``somagent_policy_decisions_logged_total{allowed}``).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
from typing import Final

import asyncpg
import uvicorn
from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from somagent.config import Settings
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_codec
from somagent.policy import constitution
from somagent.policy.decision_log import decision_events
from somagent.policy.opa import OpaClient
from somagent.policy.service import PolicyService

log = logging.getLogger(__name__)

SYNC_INTERVAL_S: Final = 5.0
PRODUCER_NAME: Final = "policy"
MAX_BATCH_BYTES: Final = 32 * 1024 * 1024
SHIPPED = Counter("somagent_policy_decisions_logged", "OPA decisions appended to "
                  "policy.decisions", ["allowed"])


class SyncState:
    """The outcome of the last OPA sync, for the health check."""

    def __init__(self) -> None:
        self.ok_at = 0.0
        self.error = "not synced yet"

    def health(self) -> tuple[bool, str]:
        if self.error:
            return False, self.error
        return True, f"synced {time.monotonic() - self.ok_at:.0f}s ago"


def decision_log_app(producer: EventProducer) -> Starlette:
    async def logs(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BATCH_BYTES:
            return JSONResponse({"detail": "batch too large"}, status_code=413)
        try:
            if request.headers.get("content-encoding", "") == "gzip" or raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            batch = json.loads(raw)
        except (OSError, ValueError) as exc:
            return JSONResponse({"detail": f"not a decision-log batch: {exc}"}, status_code=400)
        if not isinstance(batch, list):
            return JSONResponse({"detail": "not a decision-log batch (JSON array)"},
                                status_code=400)
        events = decision_events(batch)
        await asyncio.gather(*(producer.append(e) for e in events))
        for e in events:
            SHIPPED.labels(str(e["payload"]["allowed"]).lower()).inc()
        return Response(status_code=204)

    return Starlette(routes=[Route("/logs", logs, methods=["POST"])])


async def sync_forever(settings: Settings, producer: EventProducer, state: SyncState) -> None:
    pg = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2, timeout=10)
    service = PolicyService(pg, producer.append, OpaClient(settings.opa_endpoint),
                            constitution.load(settings), producer=PRODUCER_NAME)
    while True:
        try:
            counts = await service.sync()
            state.ok_at, state.error = time.monotonic(), ""
            if counts["pushed"] or counts["removed"]:
                log.info("opa sync: %s", counts)
        except Exception as exc:  # keep trying: OPA or Postgres may be restarting
            state.error = f"opa sync failed: {type(exc).__name__}: {exc}"[:500]
            log.warning("%s", state.error)
        await asyncio.sleep(SYNC_INTERVAL_S)



async def _serve(settings: Settings, state: SyncState) -> None:
    producer = EventProducer(settings, await asyncio.to_thread(kafka_codec, settings),
                             config={"linger.ms": 5})
    config = uvicorn.Config(decision_log_app(producer), host=settings.policy_host,
                            port=settings.policy_port, log_level="warning", lifespan="off")
    sync = asyncio.create_task(sync_forever(settings, producer, state), name="opa-sync")
    try:
        await uvicorn.Server(config).serve()
    finally:
        sync.cancel()
        await asyncio.to_thread(producer.close, 10.0)


def run_policy(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT (uvicorn handles the signals)."""
    from somagent import logs
    from somagent.serve.health import HealthServer

    logs.configure()
    state = SyncState()
    health = HealthServer.from_env("policy")
    health.add_check("opa-sync", state.health)
    health.start()
    try:
        asyncio.run(_serve(settings, state))
    finally:
        health.close()
