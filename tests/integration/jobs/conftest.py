"""Fixtures of the jobs tests: the real stack (with its Temporal dev server), a turn
engine and a jobs worker as child processes, and the edge in a thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from jobs_helpers import Caller, Edge, Role, new_caller, start_edge, turn_worker

from somagent.stack.stack import RunningStack


@pytest.fixture(scope="session")
def roles_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs-roles")


@pytest.fixture(scope="session")
def turns(stack: RunningStack, roles_home: Path) -> Iterator[Role]:
    role = turn_worker(stack.settings, roles_home).start()
    yield role
    role.stop()


@pytest.fixture(scope="session")
def jobs_worker(stack: RunningStack, roles_home: Path, turns: Role) -> Iterator[Role]:
    role = Role(stack.settings, roles_home, "jobs", {}).start()
    yield role
    role.stop()


@pytest.fixture(scope="session")
def edge(stack: RunningStack, jobs_worker: Role) -> Iterator[Edge]:
    server = start_edge(stack.settings)
    yield server
    server.stop()


@pytest.fixture
async def http(edge: Edge) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=edge.url, timeout=60.0) as client:
        yield client


@pytest.fixture
async def caller(stack: RunningStack, http: httpx.AsyncClient) -> Caller:
    return await new_caller(stack.settings, http)
