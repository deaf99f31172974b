"""The Faust application every agent registers on.

Faust's ``exactly_once`` is unreliable (faust-streaming issues #517, #323, #177),
so the app runs ``at_least_once``: every effect is idempotent and every event id
deterministic, so redelivery is harmless. Tables use the in-memory store backed
by their Kafka changelog topic: a restarted worker rebuilds them from the log.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import faust

from somagent.config import Settings
from somagent.engine import faust_commit

APP_ID = "somagent"


def make_app(
    settings: Settings, *, app_id: str | None = None, datadir: Path | None = None
) -> faust.App:
    """A Faust app for ``settings``; agents are attached by ``somagent.engine`` modules.

    ``datadir`` (default ``faust/<app id>``) must differ between processes of one app.
    """
    faust_commit.install()  # never commit past an in-flight message (faust-streaming #606)
    app_id = app_id or settings.worker_app_id
    datadir = datadir or settings.home_dir / "faust" / app_id
    datadir.mkdir(parents=True, exist_ok=True)
    servers = ";".join(f"kafka://{s}" for s in settings.kafka_servers.split(","))
    return faust.App(
        app_id,
        broker=servers,
        store="memory://",
        processing_guarantee="at_least_once",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        datadir=str(datadir),
        web_enabled=False,
        autodiscover=False,
        broker_commit_every=100,
        broker_commit_interval=timedelta(seconds=1),
        table_cleanup_interval=30.0,
        producer_acks=-1,
        consumer_auto_offset_reset=settings.worker_start_from,
        # A worker killed with SIGKILL leaves the group only when its session times
        # out; keep that short so a restarted worker resumes its turns quickly.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
    )
