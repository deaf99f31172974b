"""Fixtures of the artifact tests: the real edge (uvicorn, in a thread) on the session's
stack, tenants with registered signing keys, and the edge helpers of tests/integration/api."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from edge_helpers import EDGE, Server, Tenant, new_tenant, start_server

from somagent.artifacts.publisher import public_jwk
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


@dataclass
class Signer:
    tenant: Tenant
    key: Ed25519PrivateKey
    key_id: str

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tenant.api_key}"}


async def signer(stack: RunningStack, client: httpx.AsyncClient, name: str) -> Signer:
    """A new tenant with one registered Ed25519 key."""
    tenant = await new_tenant(stack.settings, name)
    key = Ed25519PrivateKey.generate()
    r = await client.post("/v1/keys", json={"public_key": public_jwk(key)},
                          headers={"Authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 201, r.text
    return Signer(tenant, key, r.json()["key_id"])
