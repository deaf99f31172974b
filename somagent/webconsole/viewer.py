"""Who is looking at the console, and the signed cookie that remembers it (pure).

Two kinds of viewers:

* the **operator** (logged in with ``somagent.credentials.operator_token``): every
  tenant's figures and the platform's own (roles, consumer lag, role metrics);
* a **tenant admin** (logged in with the tenant's API key, ``sk_…``): that
  tenant's figures only. ClickHouse reads run as the service acting for the
  tenant (the analytics engine filters every row), Postgres reads filter on
  ``tenant_id``, and the platform-wide panels are left out.

The cookie is ``<payload>.<mac>``: the payload is base64url JSON
``{"v": 1, "kind", "tenant", "key_hash", "exp_s"}`` and the mac is HMAC-SHA256
over it with a key derived from the operator credential, so rotating that
credential logs everyone out. A tenant cookie carries the ``api_key_hash`` it
was issued for; the edge checks it against ``tenants`` on every request, so a
disabled tenant or a rotated key is refused at once. :func:`verify` raises on any
defect and reads no clock: pass ``now_s`` in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

from somagent.webconsole.exceptions import BadConsoleCookie

COOKIE = "somagent_console"
COOKIE_TTL_S = 12 * 3600
_CONTEXT = b"somagent-console-cookie-v1"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The operator (``tenant`` None) or the admin of ``tenant``."""

    kind: Literal["operator", "tenant"]
    tenant: str | None = None
    tenant_name: str = ""
    key_hash: str = ""

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "tenant": self.tenant, "tenant_name": self.tenant_name}


def cookie_key(operator_token: str) -> bytes:
    """The MAC key of console cookies, derived from the operator credential."""
    return hmac.new(operator_token.encode("utf-8"), _CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(viewer: Viewer, key: bytes, now_s: int, ttl_s: int = COOKIE_TTL_S) -> str:
    """The cookie value for ``viewer``, valid for ``ttl_s`` seconds from ``now_s``."""
    body = {"v": 1, "kind": viewer.kind, "tenant": viewer.tenant,
            "name": viewer.tenant_name, "key_hash": viewer.key_hash, "exp_s": now_s + ttl_s}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    mac = _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def verify(value: str, key: bytes, now_s: int) -> Viewer:
    """The viewer a cookie names.

    Raises:
        BadConsoleCookie: not two parts, a wrong MAC, bad JSON, an unknown version
            or kind, or expired at ``now_s``.
    """
    payload, sep, mac = value.partition(".")
    if not sep or not payload or not mac or len(value) > 4096:
        raise BadConsoleCookie("console cookie is not <payload>.<mac>")
    expected = _b64(hmac.new(key, payload.encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, mac):
        raise BadConsoleCookie("console cookie does not verify")
    try:
        body = json.loads(_unb64(payload))
    except (ValueError, binascii.Error) as exc:
        raise BadConsoleCookie(f"console cookie payload is not JSON: {exc}") from exc
    if not isinstance(body, dict) or body.get("v") != 1:
        raise BadConsoleCookie("console cookie has an unknown version")
    if int(body.get("exp_s", 0)) <= now_s:
        raise BadConsoleCookie("console cookie has expired; log in again")
    kind = body.get("kind")
    if kind == "operator":
        return Viewer("operator")
    if kind == "tenant" and isinstance(body.get("tenant"), str) and body.get("key_hash"):
        return Viewer("tenant", body["tenant"], str(body.get("name", "")), str(body["key_hash"]))
    raise BadConsoleCookie(f"console cookie names an unknown viewer kind {kind!r}")
