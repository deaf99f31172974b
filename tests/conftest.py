"""The one session-scoped real stack every integration test shares.

It is brought up by the same code as ``somagent up`` (``Stack.up``) in a fresh
data directory on free loopback ports, so a developer's own stack (or another
test run) is never touched, and torn down with ``Stack.down`` at the end.
Kafka jars are cached in the repository's ``.somagent/cache`` between runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from somagent.config import Settings
from somagent.stack.stack import RunningStack, Stack
from somagent.stack.testing import fresh_stack_settings

REPO = Path(__file__).resolve().parents[1]


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
