"""A populated log and live projectors over their own Postgres database.

Projection tests use a database of their own on the session's PostgreSQL server
(``somagent_proj``), so their live tables and positions are written by exactly
one projector set; ClickHouse is the session's chDB (projector names prefixed).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from projection_helpers import PopulatedLog, database

from somagent.config import Settings
from somagent.events.codec import EventCodec
from somagent.events.examples import example_events
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_registry
from somagent.projections.run import ProjectorThreads


@pytest.fixture(scope="session")
def populated(settings: Settings) -> PopulatedLog:
    """~4,700 events of every type (200 example turns), some appended twice (redelivery).

    Kept small: every later test in the session (the turn engine's too) reads
    these topics from the beginning.
    """
    producer = EventProducer(settings, EventCodec(kafka_registry(settings)))
    base = uuid.uuid4().int % 10**9  # seeds unique to this session's run
    seeds = range(base, base + 200)
    tenants, turns, traces, appended = [], [], [], 0
    for seed in seeds:
        events = example_events(seed)
        trace = uuid.UUID(int=seed).hex
        for i, event in enumerate(events):
            event["trace_id"] = trace
            producer.send(event)
            appended += 1
            if seed % 10 == 0 and i % 5 == 0:
                producer.send(event)  # the same event again: a redelivery
                appended += 1
        tenants.append(str(events[0]["tenant"]))
        turns.append(str(next(e["turn"] for e in events if e["turn"] is not None)))
        traces.append(trace)
    producer.close()
    return PopulatedLog(seeds, tenants, turns, traces, appended)


@pytest.fixture(scope="session")
def proj_settings(settings: Settings) -> Settings:
    return database(settings, "somagent_proj")


@pytest.fixture(scope="module")
def live(proj_settings: Settings, populated: PopulatedLog) -> Iterator[ProjectorThreads]:
    threads = ProjectorThreads(proj_settings, prefix="itp-", budgets=True)
    yield threads
    threads.stop()
