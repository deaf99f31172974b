"""The console cookie: what it names, and every way a bad one is refused."""

from __future__ import annotations

import pytest

from somagent.webconsole.exceptions import BadConsoleCookie
from somagent.webconsole.viewer import Viewer, cookie_key, sign, verify

KEY = cookie_key("o" * 43)
TENANT = Viewer("tenant", "3f0c1f2e-8a51-4c1e-9d51-0a4c2b7d9e10", "acme", "sha256:" + "ab" * 32)


def test_operator_and_tenant_round_trip() -> None:
    assert verify(sign(Viewer("operator"), KEY, 1000), KEY, 1001) == Viewer("operator")
    assert verify(sign(TENANT, KEY, 1000), KEY, 1001) == TENANT


def test_expiry_is_exclusive_at_the_ttl() -> None:
    value = sign(TENANT, KEY, 1000, ttl_s=60)
    assert verify(value, KEY, 1059) == TENANT
    with pytest.raises(BadConsoleCookie, match="expired"):
        verify(value, KEY, 1060)


def test_another_operator_credential_does_not_verify() -> None:
    value = sign(Viewer("operator"), KEY, 1000)
    with pytest.raises(BadConsoleCookie, match="does not verify"):
        verify(value, cookie_key("p" * 43), 1001)


@pytest.mark.parametrize("value", ["", "nodot", ".mac", "payload.", "x" * 5000 + ".y"])
def test_malformed_cookies_are_refused(value: str) -> None:
    with pytest.raises(BadConsoleCookie):
        verify(value, KEY, 0)


def test_a_tampered_payload_is_refused() -> None:
    payload, mac = sign(TENANT, KEY, 1000).split(".")
    forged = sign(Viewer("operator"), KEY, 1000).split(".")[0]
    with pytest.raises(BadConsoleCookie, match="does not verify"):
        verify(f"{forged}.{mac}", KEY, 1001)
    assert payload != forged


def test_a_tenant_cookie_without_its_key_hash_is_refused() -> None:
    half = Viewer("tenant", TENANT.tenant, "acme", "")
    with pytest.raises(BadConsoleCookie, match="unknown viewer"):
        verify(sign(half, KEY, 1000), KEY, 1001)
