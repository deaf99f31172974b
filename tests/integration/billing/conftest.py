"""A billing worker and both projectors running against the session's real stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from billing_helpers import FaustBilling

from somagent.billing.state import BillingConfig
from somagent.billing.worker import BillingThread
from somagent.config import Settings
from somagent.events.codec import EventCodec
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_registry
from somagent.projections.run import ProjectorThreads


@pytest.fixture(scope="session")
def producer(settings: Settings) -> Iterator[EventProducer]:
    prod = EventProducer(settings, EventCodec(kafka_registry(settings)))
    yield prod
    prod.close()


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
