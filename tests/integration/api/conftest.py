"""Fixtures of the edge tests (helpers live in ``edge_helpers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from edge_helpers import EDGE, Engine, Server, Session, Tenant, mint, new_tenant, start_server

from somagent.config import Settings
from somagent.stack.stack import RunningStack


@pytest.fixture(scope="session")
def edge(stack: RunningStack) -> Iterator[Server]:
    server = start_server(stack.settings, EDGE)
    yield server
    server.stop()


@pytest.fixture
def server_factory(stack: RunningStack) -> Iterator[Callable[..., Server]]:
    """Extra servers with their own edge settings (stopped after the test)."""
    started: list[Server] = []

    def make(settings: Settings | None = None, **edge: Any) -> Server:
        s = start_server(settings or stack.settings, EDGE.model_copy(update=edge))
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
async def client(edge: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=edge.url, timeout=30.0) as c:
        yield c


@pytest.fixture
async def tenant(stack: RunningStack) -> Tenant:
    return await new_tenant(stack.settings)


@pytest.fixture
async def session(client: httpx.AsyncClient, tenant: Tenant) -> Session:
    return await mint(client, tenant)


@pytest.fixture(scope="session")
def engine(stack: RunningStack) -> Iterator[Engine]:
    e = Engine(stack.settings)
    yield e
    e.close()


