"""The one session-scoped real stack every integration test shares.

It is brought up by the same code as ``somagent up`` (``Stack.up``) in a fresh
data directory on free loopback ports, so a developer's own stack (or another
test run) is never touched, and torn down with ``Stack.down`` at the end.
Kafka jars are cached in the repository's ``.somagent/cache`` between runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from somagent.config import Settings, load_settings
from somagent.stack.process import free_port
from somagent.stack.stack import RunningStack, Stack

REPO = Path(__file__).resolve().parents[1]


def fresh_stack_settings(home: Path) -> Settings:
    """Settings for a fresh stack under ``home`` on free loopback ports."""
    return load_settings(
        home=home,
        cache_dir=Path(os.environ.get("SOMAGENT_CACHE_DIR", REPO / ".somagent" / "cache")),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        postgres_port=free_port(),
        redis_port=free_port(),
        api_port=free_port(),
        topic_partitions=3,
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The real local stack (Kafka, PostgreSQL, Redis, chDB, Qdrant) for this test session."""
    home = tmp_path_factory.mktemp("somagent-home")
    the_stack = Stack(fresh_stack_settings(home))
    try:
        running = the_stack.up()
        yield running
    finally:
        the_stack.down()


@pytest.fixture(scope="session")
def settings(stack: RunningStack) -> Settings:
    """Settings that reach the session's live servers."""
    return stack.settings
