"""Fixtures of the constitution tests: the real edge (uvicorn, in a thread) on the
session's stack (which runs the real OPA server and the policy role), a client, and
the edge helpers of tests/integration/api."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from edge_helpers import EDGE, Server, Tenant, new_tenant, start_server

from somagent.events.codec import EventCodec
from somagent.kafka.schema_log import kafka_codec
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


@pytest.fixture
async def tenant(stack: RunningStack) -> Tenant:
    return await new_tenant(stack.settings, "policy")


@pytest.fixture(scope="module")
def codec(stack: RunningStack) -> EventCodec:
    return kafka_codec(stack.settings)
