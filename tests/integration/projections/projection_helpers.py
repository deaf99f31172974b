"""Helpers of the projection tests (imported by name: not a conftest, so it never
collides with another directory's conftest module)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg

from somagent.config import Settings
from somagent.kafka.admin import end_offsets, partitions_of
from somagent.projections import chproj, postgres
from somagent.projections.run import ProjectorThreads
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
