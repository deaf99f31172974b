"""A billing worker and both projectors running against the session's real stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.streams.engine_helpers import WorkerProcess

from somagent.config import Settings
from somagent.events.catalog import BILLING_USAGE
from somagent.events.codec import EventCodec
from somagent.events.kafka import EventProducer
from somagent.events.schema_log import kafka_registry
from somagent.projections.run import ProjectorThreads
from somagent.streams.billing import BillingConfig, BillingThread


@pytest.fixture(scope="session")
def producer(settings: Settings) -> Iterator[EventProducer]:
    prod = EventProducer(settings, EventCodec(kafka_registry(settings)))
    yield prod
    prod.close()


class FaustBilling:
    """``somagent serve billing --engine faust`` as a child process (SIGKILL-able).

    Its consumer group starts at the end of ``billing.usage``: usage the other
    engine already billed is not billed twice (two engines' rows for one window
    would share event ids but not necessarily content).
    """

    def __init__(self, settings: Settings, home: Path) -> None:
        self.proc = WorkerProcess(
            settings,
            home,
            role=("serve", "billing", "--engine", "faust", "--group", f"it-billing-{home.name}"),
            topics=(BILLING_USAGE,),
        )
        self.proc.role = (*self.proc.role[:-1], self.proc.group)

    @property
    def errors(self) -> list[BaseException]:
        alive = self.proc.proc is not None and self.proc.proc.poll() is None
        return [] if alive else [RuntimeError(f"billing agent exited:\n{self.proc.tail()}")]


@pytest.fixture(scope="module", params=["transactional", "faust"])
def billing(
    request: pytest.FixtureRequest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BillingThread | FaustBilling]:
    if request.param == "transactional":
        thread = BillingThread(settings, BillingConfig(grace_s=1.0, group="it-billing", batch=2000))
        yield thread
        thread.stop()
        return
    agent = FaustBilling(settings, tmp_path_factory.mktemp("billing-agent"))
    agent.proc.start()
    try:
        yield agent
    finally:
        agent.proc.stop()


@pytest.fixture(scope="module")
def projectors(settings: Settings) -> Iterator[ProjectorThreads]:
    threads = ProjectorThreads(settings, prefix="it-")
    yield threads
    threads.stop()
