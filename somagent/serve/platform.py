"""``somagent serve all``: edge, turn engine, memory agent, billing and projectors in one process.

Embedded stores (chDB, Qdrant local mode) allow exactly one owning process, so
the local stack runs every application role together: the Faust worker owns
the event loop of the main thread; the edge (uvicorn), the billing worker and
the two projectors run in threads and share this process's ClickHouse session
and Qdrant client. SIGTERM/SIGINT stop Faust; the threads are then stopped in
turn (each finishes its current batch).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from somagent.config import Settings
from somagent.projections.clickhouse import connect
from somagent.serve.worker import build_worker, run_faust

log = logging.getLogger(__name__)


class EdgeThread:
    """uvicorn serving the edge app in a background thread (it skips signal handlers there)."""

    def __init__(self, settings: Settings, memory: Any) -> None:
        import uvicorn

        from somagent.api.app import create_app
        from somagent.api.context import MemoryDeps

        deps = MemoryDeps(memory.recaller, memory.guard, memory.client)
        config = uvicorn.Config(
            create_app(settings, memory=deps),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="edge", daemon=True)
        self.thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)


def run_platform(settings: Settings, *, loglevel: str = "info") -> None:
    """Run every role in this process until SIGTERM/SIGINT."""
    from somagent.billing.agent import BillingAgent
    from somagent.billing.plans import tenant_plans
    from somagent.billing.worker import BillingThread
    from somagent.projections.run import ProjectorThreads

    worker = build_worker(settings, clickhouse=connect(settings))
    billing: BillingThread | BillingAgent
    if settings.billing_engine == "faust":  # the agent shares the worker's Faust app
        billing = BillingAgent(settings, plan_for=tenant_plans(settings))
        billing.register(worker.app)
    else:
        billing = BillingThread(settings)
    edge = EdgeThread(settings, worker.memory)
    projectors = ProjectorThreads(settings)
    try:
        run_faust(worker.app, loglevel=loglevel)
    finally:
        for name, stopper in (
            ("edge", edge.stop),
            ("billing", billing.stop if isinstance(billing, BillingThread) else billing.close),
            ("projectors", projectors.stop),
        ):
            try:
                stopper()
            except Exception:  # report and keep stopping the others
                log.exception("stopping %s failed", name)
        worker.producer.close()
