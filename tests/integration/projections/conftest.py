"""A populated log and live projectors over their own Postgres database.

Projection tests use a database of their own on the session's PostgreSQL server
(``somagent_proj``), so their live tables and positions are written by exactly
one projector set; ClickHouse is the session's chDB (projector names prefixed).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from somagent.config import Settings
from somagent.events.codec import EventCodec
from somagent.events.examples import example_events
from somagent.events.kafka import EventProducer
from somagent.events.schema_log import kafka_registry
from somagent.projections import chproj, postgres
from somagent.projections.run import ProjectorThreads
from somagent.projections.source import end_offsets, partitions_of
from somagent.stack.postgres import apply_migrations


async def _create_database(settings: Settings, name: str) -> None:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def database(settings: Settings, name: str) -> Settings:
    """``settings`` pointing at a fresh migrated database ``name`` on the same server."""
    asyncio.run(_create_database(settings, name))
    moved = settings.model_copy(update={"database_name": name})
    asyncio.run(apply_migrations(moved.postgres_dsn))
    return moved


@dataclass
class PopulatedLog:
    """Events this session appended: example turns for ``seeds`` (plus redeliveries)."""

    seeds: range
    tenants: list[str]
    turns: list[str]
    traces: list[str]
    appended: int


@pytest.fixture(scope="session")
def populated(settings: Settings) -> PopulatedLog:
    """~20 000 events of every type, some appended twice (redelivery)."""
    producer = EventProducer(settings, EventCodec(kafka_registry(settings)))
    base = uuid.uuid4().int % 10**9  # seeds unique to this session's run
    seeds = range(base, base + 900)
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


@pytest.fixture(scope="session")
def live(proj_settings: Settings, populated: PopulatedLog) -> Iterator[ProjectorThreads]:
    threads = ProjectorThreads(proj_settings, prefix="itp-", budgets=True)
    yield threads
    threads.stop()


def log_ends(settings: Settings) -> dict[str, dict[tuple[str, int], int]]:
    """Current end offsets of each projector's topics."""
    return {
        "postgres": end_offsets(settings, partitions_of(settings, postgres.TOPICS)),
        "clickhouse": end_offsets(settings, partitions_of(settings, chproj.TOPICS)),
    }


def caught_up(threads: ProjectorThreads, ends: dict[str, dict[tuple[str, int], int]]) -> Any:
    if threads.failure is not None:
        raise threads.failure
    return all(
        all(threads.stats[name].positions.get(tp, 0) >= end for tp, end in want.items())
        for name, want in ends.items()
    )
