"""Helpers of the artifact tests: tenants with a registered Ed25519 signing key."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from edge_helpers import Tenant, new_tenant

from somagent.artifacts.publisher import public_jwk
from somagent.stack.stack import RunningStack


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
