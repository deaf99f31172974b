"""``somagent up | down | status``: the local stack of real servers as one unit.

Guarantees:
* ``up`` is idempotent: servers already running (by pid file) are reused, data
  under ``SOMAGENT_HOME`` is kept, topics/migrations/DDL are applied idempotently.
* ``up`` returns only after every component answered a real request (broker
  metadata, ``SELECT 1``, ``PING``, a ClickHouse query, a Qdrant call), each with
  the deadline ``SOMAGENT_STARTUP_TIMEOUT_S``.
* A component with an external URL is never started, only checked.
* ``down`` stops every process the stack started, by pid, in reverse order.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from somagent.config import Settings
from somagent.stack.component import ComponentStatus
from somagent.stack.engines import ClickHouseEngine, QdrantEngine
from somagent.stack.kafka import Kafka
from somagent.stack.opa import Opa
from somagent.stack.platform import Layout, Platform
from somagent.stack.postgres import Postgres
from somagent.stack.redis_server import Redis
from somagent.stack.s3 import S3Server
from somagent.stack.temporal import Temporal


@dataclass
class RunningStack:
    """What ``up`` returns: the settings that reach every server, and start-up timings."""

    settings: Settings
    timings_s: dict[str, float] = field(default_factory=dict)


class Stack:
    """The components, in start order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = Kafka(settings)
        self.postgres = Postgres(settings)
        self.redis = Redis(settings)
        self.temporal = Temporal(settings)
        self.s3 = S3Server(settings)
        self.opa = Opa(settings)
        self.clickhouse = ClickHouseEngine(settings)
        self.qdrant = QdrantEngine(settings)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        run = self.settings.home_dir / "run"
        run.mkdir(parents=True, exist_ok=True)
        with open(run / "stack.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def up(self, layout: Layout | None = None, *, roles: bool = True) -> RunningStack:
        """Start (or reuse) every component and wait until each is ready.

        ``layout`` says which platform processes run (default: servers only, which
        still runs the analytics service: the local ClickHouse server). A running
        supervisor with another layout is restarted with this one. ``roles=False``
        only checks the servers and applies topics, migrations and DDL (a one-shot
        preparation step, as in docker compose).
        """
        from somagent.kafka.admin import ensure_topics
        from somagent.policy.bootstrap import ensure_default

        layout = layout or Layout(platform=False)
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        with self._lock():
            # The JVM boots in the background while the other servers start.
            self.kafka.start()
            for component in (self.postgres, self.redis, self.temporal, self.s3, self.opa):
                started = time.monotonic()
                component.start()
                timings[component.name] = time.monotonic() - started
            if not self.kafka.external:
                self.kafka.wait_ready()
            ensure_topics(self.settings)
            timings["kafka"] = time.monotonic() - t0
            started = time.monotonic()
            ensure_default(self.settings, local_keys=self.settings.constitution_keys_dir is None)
            timings["constitution"] = time.monotonic() - started
            for engine in (self.clickhouse, self.qdrant):
                if engine.external:  # local engines are started by their owning role
                    started = time.monotonic()
                    engine.start()
                    timings[engine.name] = time.monotonic() - started
            if roles:
                started = time.monotonic()
                Platform(self.settings).start(layout)
                timings["platform" if layout.platform else "engines"] = time.monotonic() - started
        timings["total"] = time.monotonic() - t0
        return RunningStack(self.settings, timings)

    def down(self) -> list[str]:
        """Stop every process the stack started; return the names of those stopped."""
        stopped = []
        with self._lock():
            components = (Platform(self.settings), self.opa, self.temporal, self.s3)
            for component in (*components, self.redis, self.postgres, self.kafka):
                if component.stop():
                    stopped.append(component.name)
        return stopped

    def status(self) -> list[ComponentStatus]:
        """Every server, the engines (through their owning roles), then the platform roles."""
        platform = Platform(self.settings)
        rows = [c.status() for c in (self.kafka, self.postgres, self.redis, self.temporal, self.s3,
                                     self.opa)]
        rows += [self.clickhouse.status(), self.qdrant.status()]
        rows += platform.status()
        return rows
