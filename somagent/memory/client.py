"""Recall and remember through the Memory Gateway, and the :class:`Recall` protocol.

Every process other than the gateway (turn workers, the edge, the ``memory.search``
tool) uses :class:`MemoryGatewayClient` instead of opening the vector store. Its
``recall`` has the signature of :meth:`~somagent.memory.recall.Recaller.recall`, so
consumers depend on :class:`Recall` and take either.

Guarantees:

* one ``httpx.AsyncClient`` per client object: keep-alive connections to the
  gateway, the service credential on every request;
* bad input is refused before any request with the same :class:`InvalidRecallRequest`
  as :class:`Recaller` (``validate_recall``); a gateway 400/413/415/422 is raised as
  :class:`InvalidRecallRequest` / :class:`InvalidRememberRequest` (both
  ``ValueError``) with the gateway's detail;
* the gateway unreachable, timing out, answering 503/5xx, or refusing the
  credential (401: a misconfigured installation) raises
  :class:`MemoryGatewayError`, a :class:`MemoryStoreError`, naming the URL;
* evidence blocks are the gateway's exactly (score and ``created_at_us``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from opentelemetry.trace import SpanKind

from somagent.config import Settings
from somagent.credentials import service_token
from somagent.memory.exceptions import (
    InvalidRecallRequest,
    InvalidRememberRequest,
    MemoryPolicyDenied,
    MemoryStoreError,
)
from somagent.memory.model import EvidenceBlock
from somagent.memory.recall import validate_recall
from somagent.telemetry import metrics, tracing


class Recall(Protocol):
    """Recall over the tenant's memories: at most ``top_k`` blocks, best first.

    Implemented by :class:`~somagent.memory.recall.Recaller` (in the process that owns
    the store) and :class:`MemoryGatewayClient` (everywhere else).
    """

    async def recall(
        self, tenant: str, query: str, top_k: int = 5, capsule_ids: Sequence[str] | None = None
    ) -> list[EvidenceBlock]: ...


class Evaluate(Protocol):
    """The brain's context bundle (``POST /v1/brain/evaluate``) as evidence blocks, best
    first by utility; implemented by :class:`MemoryGatewayClient`."""

    async def evaluate(
        self, tenant: str, query: str, top_k: int = 5, capsule_ids: Sequence[str] | None = None
    ) -> list[EvidenceBlock]: ...


class MemoryGatewayError(MemoryStoreError):
    """The gateway could not be reached or failed; ``status`` is its HTTP status (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class RememberReceipt:
    """The gateway's answer to a remember.

    ``status``: ``requested`` (appended; not yet applied, or no wait asked),
    ``remembered`` (applied: a recall starting now sees it) or ``rejected``
    (``reason_code`` says why, e.g. ``duplicate``). ``position`` is the request's
    Kafka position on ``memory.events`` as ``partition-offset``; ``size_bytes`` the
    UTF-8 size of the redacted text that will be stored.
    """

    memory_id: str
    request_id: str
    position: str
    status: str
    size_bytes: int
    reason_code: str = ""


def _block(item: dict[str, Any]) -> EvidenceBlock:
    return EvidenceBlock(
        memory_id=str(item["memory_id"]),
        text=str(item["text"]),
        score=float(item["score"]),
        source=str(item.get("source", "")),
        created_at_us=int(item.get("created_at_us", 0)),
        trace_id=str(item.get("trace_id", "")),
        capsule_id=item.get("capsule_id"),
    )


# Client-side latency (HTTP included) of the calls a turn waits on; see docs/observability.md.
_TIMED: dict[str, tuple[Any, ...]] = {
    "/v1/recall": (metrics.RECALL_DURATION, "recall"),
    "/v1/brain/evaluate": (metrics.RECALL_DURATION, "evaluate"),
    "/v1/remember": (metrics.REMEMBER_DURATION,),
}


class MemoryGatewayClient:
    """Async client of one Memory Gateway.

    Args:
        base_url: the gateway, e.g. ``settings.memory_url``.
        token: the service credential (``somagent.credentials.service_token(home)``).
        timeout_s: limit for a whole request (read, write, pool wait).
        connect_timeout_s: limit for opening a connection.
        max_connections: keep-alive pool size.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 5.0,
        connect_timeout_s: float = 1.0,
        max_connections: int = 32,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> MemoryGatewayClient:
        """A client of ``settings.memory_url`` with this installation's service credential."""
        return cls(settings.memory_url, service_token(settings.home_dir), **options)

    async def _post(
        self, path: str, body: dict[str, Any], invalid: type[ValueError], timeout_s: float | None
    ) -> tuple[int, dict[str, Any]]:
        timed = _TIMED.get(path)
        if timed is None:
            return await self._post_once(path, body, invalid, timeout_s)
        with tracing.span(f"memory {path}", kind=SpanKind.CLIENT), metrics.timed(*timed):
            return await self._post_once(path, body, invalid, timeout_s)

    async def _post_once(
        self, path: str, body: dict[str, Any], invalid: type[ValueError], timeout_s: float | None
    ) -> tuple[int, dict[str, Any]]:
        extra: dict[str, Any] = {} if timeout_s is None else {"timeout": timeout_s}
        headers: dict[str, str] = {}
        tracing.inject(headers)  # the gateway's log lines and spans join the caller's trace
        try:
            response = await self._http.post(path, json=body, headers=headers, **extra)
        except httpx.HTTPError as exc:
            raise MemoryGatewayError(
                f"memory gateway {self.base_url}{path}: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            document = response.json()
        except ValueError:
            document = {}
        status = response.status_code
        if status < 300:
            return status, document
        detail = document.get("detail") or response.text[:200]
        message = f"memory gateway {self.base_url}{path} answered {status}: {detail}"
        if status == 403 and str(document.get("type", "")).endswith("/policy-denied"):
            raise MemoryPolicyDenied(message, document.get("policy_hash"), document.get("rule"))
        if status in (400, 413, 415, 422):
            raise invalid(message)
        raise MemoryGatewayError(message, status)

    async def recall(
        self, tenant: str, query: str, top_k: int = 5, capsule_ids: Sequence[str] | None = None
    ) -> list[EvidenceBlock]:
        """The ``top_k`` (1..50) memories of ``tenant`` closest to ``query``, best first
        (see :meth:`~somagent.memory.recall.Recaller.recall` for the semantics).

        Raises:
            InvalidRecallRequest: bad input (checked here first, then by the gateway).
            MemoryGatewayError: the gateway or its store is unavailable.
        """
        validate_recall(tenant, query, top_k, capsule_ids)
        if capsule_ids is not None and len(capsule_ids) == 0:
            return []
        body: dict[str, Any] = {"tenant": tenant, "query": query, "top_k": top_k}
        if capsule_ids is not None:
            body["capsule_ids"] = list(capsule_ids)
        _, document = await self._post("/v1/recall", body, InvalidRecallRequest, None)
        return [_block(item) for item in document.get("evidence", [])]

    async def evaluate_bundle(
        self,
        tenant: str,
        query: str,
        top_k: int = 5,
        capsule_ids: Sequence[str] | None = None,
        *,
        directives: Sequence[str] = (),
        weights: Sequence[float] | None = None,
    ) -> dict[str, Any]:
        """The brain's ContextBundle as JSON (``bundle_id``, ``evidence`` with features,
        utility and confidence, ``directives``, ``weights``, ``prompt``).

        Raises:
            InvalidRecallRequest: bad input, or weights out of bounds (the gateway's 422).
            MemoryGatewayError: the gateway or its store is unavailable.
        """
        validate_recall(tenant, query, top_k, capsule_ids)
        body: dict[str, Any] = {"tenant": tenant, "query": query, "top_k": top_k}
        if capsule_ids is not None:
            body["capsule_ids"] = list(capsule_ids)
        if directives:
            body["directives"] = list(directives)
        if weights is not None:
            body["weights"] = [float(w) for w in weights]
        _, document = await self._post("/v1/brain/evaluate", body, InvalidRecallRequest, None)
        return document

    async def evaluate(
        self, tenant: str, query: str, top_k: int = 5, capsule_ids: Sequence[str] | None = None
    ) -> list[EvidenceBlock]:
        """:meth:`evaluate_bundle`'s evidence as blocks (``score``: the semantic cosine),
        ranked by the brain's utility; the signature of :meth:`recall`."""
        if capsule_ids is not None and len(capsule_ids) == 0:
            validate_recall(tenant, query, top_k, capsule_ids)
            return []
        document = await self.evaluate_bundle(tenant, query, top_k, capsule_ids)
        return [_block(item) for item in document.get("evidence", [])]

    async def feedback(
        self, tenant: str, bundle_id: str, useful: Sequence[str], *, trace_id: str | None = None
    ) -> dict[str, Any]:
        """Mark which evidence of ``bundle_id`` was useful; the weights update (JSON answer).

        Raises:
            InvalidRecallRequest: unknown bundle (404 is raised as MemoryGatewayError) or
                evidence ids that were not candidates (422).
            MemoryGatewayError: the gateway or Kafka is unavailable, or the bundle is unknown.
        """
        body: dict[str, Any] = {"tenant": tenant, "bundle_id": bundle_id, "useful": list(useful)}
        if trace_id is not None:
            body["trace_id"] = trace_id
        _, document = await self._post("/v1/brain/feedback", body, InvalidRecallRequest, None)
        return document

    async def remember(
        self,
        tenant: str,
        text: str,
        *,
        source: str,
        trace_id: str,
        capsule_id: str | None = None,
        session: str | None = None,
        turn: str | None = None,
        seq: int = 0,
        reason: str = "",
        request_id: str | None = None,
        wait_ms: int = 0,
    ) -> RememberReceipt:
        """Ask the gateway to remember ``text`` for ``tenant`` (see :mod:`somagent.memory.gateway`).

        ``request_id`` (a UUID) makes a retry the same request; ``wait_ms`` (0..30000)
        waits for the decision to be applied. The HTTP timeout is stretched by
        ``wait_ms`` so waiting never turns into a client timeout.

        Raises:
            InvalidRememberRequest: the gateway refused the input (nothing appended).
            MemoryGatewayError: the gateway, Kafka or the store is unavailable.
        """
        body: dict[str, Any] = {
            "tenant": tenant, "text": text, "source": source, "trace_id": trace_id,
            "capsule_id": capsule_id, "session": session, "turn": turn, "seq": seq,
            "reason": reason, "wait_ms": wait_ms,
        }
        if request_id is not None:
            body["request_id"] = request_id
        timeout = self._http.timeout.read or 5.0
        _, document = await self._post(
            "/v1/remember", body, InvalidRememberRequest, timeout + wait_ms / 1000
        )
        return RememberReceipt(
            memory_id=str(document["memory_id"]),
            request_id=str(document["request_id"]),
            position=str(document["position"]),
            status=str(document["status"]),
            size_bytes=int(document.get("size_bytes", 0)),
            reason_code=str(document.get("reason_code", "")),
        )

    async def aclose(self) -> None:
        """Close the keep-alive connections."""
        await self._http.aclose()
