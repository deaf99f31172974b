"""Fixtures of the artifact tests: the real edge (uvicorn, in a thread) on the session's
stack, tenants with registered signing keys, and the edge helpers of tests/integration/api."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from edge_helpers import EDGE, Server, start_server

from somagent.stack.stack import RunningStack


@pytest.fixture(scope="module")
def edge(stack: RunningStack) -> Iterator[Server]:
    server = start_server(stack.settings, EDGE)
    yield server
    server.stop()


@pytest.fixture
async def client(edge: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=edge.url, timeout=60.0) as c:
        yield c
