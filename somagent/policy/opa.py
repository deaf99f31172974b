"""OPA's REST API: the Policy API (Rego modules), the Data API (policy data), decisions.

Layout in OPA (what :mod:`somagent.policy.service` keeps it at):

* policy ``somagent-gate``: :file:`gate.rego` (package ``somagent.gate``);
* policy ``somagent-log-filter``: :file:`log_filter.rego` (only gate decisions are logged);
* policy ``p_<hex>``: a policy's own Rego rules (package ``somagent.custom.p_<hex>``);
* data ``somagent/policies/<policy_hash>``: the ``data`` of every *active* policy.

A decision is ``POST /v1/data/somagent/gate/decision`` with the gate's input; OPA
logs every such query to its decision log (:mod:`somagent.policy.decision_log`).
Every call has a deadline; a transport failure or an error status raises
:class:`PolicyEngineUnavailable` naming the URL (rejected Rego raises
:class:`InvalidPolicy` with OPA's message).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

import httpx

from somagent.policy.exceptions import InvalidPolicy, PolicyEngineUnavailable

GATE_POLICY_ID: Final = "somagent-gate"
LOG_FILTER_ID: Final = "somagent-log-filter"
DECISION_PATH: Final = "somagent/gate/decision"
DATA_ROOT: Final = "somagent/policies"


def gate_module() -> str:
    """The text of the platform's decision rules (``somagent/policy/gate.rego``)."""
    return resources.files("somagent.policy").joinpath("gate.rego").read_text()


def log_filter_module() -> str:
    """OPA's decision-log drop rule (``somagent/policy/log_filter.rego``): gate decisions only."""
    return resources.files("somagent.policy").joinpath("log_filter.rego").read_text()


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code == 400 and what.startswith("PUT /v1/policies/"):
        raise InvalidPolicy(f"OPA refused the Rego module: {response.text[:1500]}")
    if response.status_code >= 400:
        raise PolicyEngineUnavailable(f"OPA {what}: HTTP {response.status_code}: "
                                      f"{response.text[:500]}")
    return response


class OpaClient:
    """Async client of one OPA server at ``url`` (connection-pooled)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PolicyEngineUnavailable(f"OPA at {self.url}: {method} {path}: "
                                          f"{type(exc).__name__}: {exc}") from exc
        return _check(response, f"{method} {path}")

    async def put_module(self, policy_id: str, rego: str) -> None:
        await self._call("PUT", f"/v1/policies/{policy_id}", content=rego.encode(),
                         headers={"Content-Type": "text/plain"})

    async def delete_module(self, policy_id: str) -> None:
        try:
            await self._call("DELETE", f"/v1/policies/{policy_id}")
        except PolicyEngineUnavailable as exc:
            if "HTTP 404" not in str(exc):
                raise

    async def modules(self) -> dict[str, str]:
        """``{policy id: Rego text}`` of every module OPA holds."""
        body = (await self._call("GET", "/v1/policies")).json()
        return {str(item["id"]): str(item.get("raw", "")) for item in body.get("result", [])}

    async def put_data(self, path: str, value: Any) -> None:
        await self._call("PUT", f"/v1/data/{path}", content=json.dumps(value).encode(),
                         headers={"Content-Type": "application/json"})

    async def delete_data(self, path: str) -> None:
        try:
            await self._call("DELETE", f"/v1/data/{path}")
        except PolicyEngineUnavailable as exc:
            if "HTTP 404" not in str(exc):
                raise

    async def get_data(self, path: str) -> Any:
        return (await self._call("GET", f"/v1/data/{path}")).json().get("result")

    async def decide(self, input_: dict[str, Any], path: str = DECISION_PATH) -> dict[str, Any]:
        """The result of ``path`` for ``input_`` (``{}`` when OPA has no value)."""
        body = (await self._call("POST", f"/v1/data/{path}", json={"input": input_})).json()
        result = body.get("result")
        return result if isinstance(result, dict) else {}
