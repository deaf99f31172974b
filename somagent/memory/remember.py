"""Remember as an event-sourced, gated write (the glue the Faust wiring calls).

Flow on ``memory.events`` (key: tenant, so one tenant's events stay in order)::

    edge / Remember step ──> MemoryRememberRequested      (requested_payload)
    remember-guard agent ──> MemoryRemembered | MemoryRememberRejected
                                                          (RememberDecider.decide)
    memory projector     ──> Qdrant upsert                (MemoryProjector.apply)

Payload dicts carry the fields of the Avro records in ``schemas/avro`` (``reason``
holds the rejection's reason code, or the request's stated reason) plus extra keys
used when present: ``source``, ``created_at_us``, ``request_id``, ``reason_code``,
``detail``, ``pii_kinds``. The Avro writer drops keys its schema does not name, so
the guard and projector fall back to the envelope when they are missing: ``ts`` for
the creation time, ``trace_id``, and for a request ``producer`` as its source (a
stored memory whose decision lost ``source`` says ``unknown``).

Idempotency: ``MemoryRemembered`` has the event id ``memory_event_id(memory_id,
"MemoryRemembered")`` (one memory, one write event, however many requests or
retries produced it); ``MemoryRememberRejected`` has ``memory_event_id(request_id,
"MemoryRememberRejected")`` (each request's own rejection, the same on a retry).
The projector's upsert of the same memory is a no-op.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from somagent.contract import ids, names
from somagent.memory.embedder import Embedder
from somagent.memory.exceptions import InvalidRememberRequest, MalformedMemoryEvent
from somagent.memory.guard import (
    Accepted,
    Decision,
    RememberGuard,
    RememberRequest,
    memory_id_for,
    text_sha256,
)
from somagent.memory.model import MemoryRecord
from somagent.memory.store import MemoryStore
from somagent.wait import until_async

MEMORY_REMEMBER_REQUESTED: Final = "MemoryRememberRequested"
MEMORY_REMEMBERED: Final = "MemoryRemembered"
MEMORY_REMEMBER_REJECTED: Final = "MemoryRememberRejected"
CAPSULE_REVOKED: Final = "CapsuleRevoked"
TENANT_DATA_ERASED: Final = names.TENANT_DATA_ERASED


def decision_event_id(request: RememberRequest, decision: Decision) -> str:
    """Deterministic event id of the guard's decision (see the module docstring)."""
    if isinstance(decision, Accepted):
        return str(ids.memory_event_id(decision.memory_id, MEMORY_REMEMBERED))
    subject = request.request_id or f"{decision.memory_id}:{decision.reason_code}"
    return str(ids.memory_event_id(subject, MEMORY_REMEMBER_REJECTED))


def _micros(value: Any) -> int:
    """Envelope ``ts`` as µs: fastavro decodes ``timestamp-micros`` to an aware datetime."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise MalformedMemoryEvent(f"memory event ts must be µs or a datetime, got {value!r}")


def _text(mapping: Mapping[str, Any], name: str, where: str) -> str:
    """A string field; decoded Avro ``uuid`` fields arrive as :class:`uuid.UUID`."""
    value = mapping.get(name)
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise MalformedMemoryEvent(f"{where}: field {name!r} must be a string, got {value!r}")
    return value


def _field(mapping: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = mapping.get(name)
    if not isinstance(value, kind):
        raise MalformedMemoryEvent(
            f"{where}: field {name!r} must be {kind.__name__}, got {value!r}"
        )
    return value


def requested_payload(guard: RememberGuard, request: RememberRequest) -> dict[str, Any]:
    """Payload of ``MemoryRememberRequested`` for the edge or the Remember step.

    The text is redacted here already so clear personal data never reaches the log;
    ``memory_id``/``text_sha256`` are what an acceptance will use, so the edge can
    answer ``202`` with the memory id and later wait for it (see docs/memory.md).

    Raises:
        InvalidRememberRequest: the text is not a string or is over the guard's
            ``max_text_bytes`` (answer 413; nothing should be appended).
    """
    if not isinstance(request.text, str):
        raise InvalidRememberRequest(
            f"remember text must be a string for tenant {request.tenant!r}"
        )
    size = len(request.text.encode("utf-8"))
    if size > guard.max_text_bytes:
        raise InvalidRememberRequest(
            f"remember text is {size} bytes, limit {guard.max_text_bytes}, "
            f"for tenant {request.tenant!r}"
        )
    redaction = guard.redact(request.text)
    digest = text_sha256(redaction.text)
    return {
        "memory_id": memory_id_for(request.tenant, digest, request.capsule_id),
        "text": redaction.text,
        "text_sha256": digest,
        "capsule_id": request.capsule_id,
        "reason": request.reason,
        "source": request.source,
        "created_at_us": request.created_at_us,
        "pii_kinds": list(redaction.kinds),
    }


def request_from_event(event: Mapping[str, Any]) -> RememberRequest:
    """Rebuild the :class:`RememberRequest` from a ``MemoryRememberRequested`` envelope dict.

    Raises:
        MalformedMemoryEvent: not that type, or a required field is missing.
    """
    if event.get("type") != MEMORY_REMEMBER_REQUESTED:
        raise MalformedMemoryEvent(
            f"expected {MEMORY_REMEMBER_REQUESTED}, got {event.get('type')!r}"
        )
    where = f"{MEMORY_REMEMBER_REQUESTED} {event.get('event_id')!r}"
    payload = _field(event, "payload", Mapping, where)
    return RememberRequest(
        tenant=_text(event, "tenant", where),
        text=_text(payload, "text", where),
        created_at_us=int(payload.get("created_at_us") or _micros(event.get("ts"))),
        source=str(payload.get("source") or event.get("producer") or "api"),
        capsule_id=payload.get("capsule_id"),
        trace_id=str(event.get("trace_id") or ""),
        request_id=str(event.get("event_id") or ""),
        reason=str(payload.get("reason") or ""),
        pii_kinds=tuple(str(kind) for kind in payload.get("pii_kinds") or ()),
    )


def decision_payload(request: RememberRequest, decision: Decision) -> tuple[str, dict[str, Any]]:
    """``(event type, payload)`` for the guard's decision on ``request``."""
    common = {
        "capsule_id": request.capsule_id,
        "source": request.source,
        "request_id": request.request_id,
    }
    if isinstance(decision, Accepted):
        return MEMORY_REMEMBERED, {
            "memory_id": decision.memory_id,
            "text": decision.text,
            "text_sha256": decision.text_sha256,
            "reason": request.reason,
            "created_at_us": request.created_at_us,
            "pii_kinds": list(decision.pii_kinds),
            **common,
        }
    return MEMORY_REMEMBER_REJECTED, {
        "memory_id": decision.memory_id,
        "text_sha256": decision.text_sha256,
        "reason": decision.reason_code,
        "reason_code": decision.reason_code,
        "detail": decision.detail,
        **common,
    }


class _StoreHashes:
    """``Container[str]`` of the text hashes in one tenant's capsule, asked of the store."""

    def __init__(self, store: MemoryStore, request: RememberRequest) -> None:
        self._store, self._request = store, request

    def __contains__(self, digest: object) -> bool:
        request = self._request
        return isinstance(digest, str) and self._store.exists_hash(
            request.tenant, digest, request.capsule_id, request.request_id or None
        )


class RememberDecider:
    """The remember-guard agent's logic: request event in, decision event out.

    Duplicate detection asks the store, i.e. it sees memories the projector has
    applied. Two identical requests decided before the first is projected are both
    accepted; they carry the same memory id, so the store still holds one copy.
    """

    def __init__(
        self, guard: RememberGuard, store: MemoryStore, embedder: Embedder | None = None
    ) -> None:
        if guard.near_duplicate_cosine is not None and embedder is None:
            raise ValueError("near-duplicate detection needs the embedder")
        self.guard, self.store, self.embedder = guard, store, embedder

    def _nearest(self, request: RememberRequest) -> Callable[[str], float | None] | None:
        embedder = self.embedder
        if embedder is None:
            return None
        # A memory without capsule is compared with all of the tenant's memories.
        capsules = [request.capsule_id] if request.capsule_id is not None else None

        def nearest(text: str) -> float | None:
            hits = self.store.search(request.tenant, embedder.embed([text])[0], 1, capsules)
            return hits[0].score if hits else None

        return nearest

    def decide(self, request: RememberRequest) -> tuple[Decision, str, dict[str, Any]]:
        """Decide one request: ``(decision, event type, payload)`` (blocking: asks the store)."""
        decision = self.guard.decide(
            request, _StoreHashes(self.store, request), self._nearest(request)
        )
        event_type, payload = decision_payload(request, decision)
        return decision, event_type, payload

    def decide_event(self, event: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """``(decision event id, event type, payload)`` for a request envelope dict."""
        request = request_from_event(event)
        decision, event_type, payload = self.decide(request)
        return decision_event_id(request, decision), event_type, payload


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a memory (and, when known, of the request that asked for it).

    ``remembered`` is True once the memory is in the store; a rejection carries its
    ``reason_code`` (``duplicate`` means an equal memory is already stored).
    """

    memory_id: str
    remembered: bool
    reason_code: str = ""
    request_id: str = ""


def remembered_text(event: Mapping[str, Any]) -> str:
    """The (redacted) text of a ``MemoryRemembered`` envelope dict.

    Raises:
        MalformedMemoryEvent: the payload or its text is missing.
    """
    where = f"{MEMORY_REMEMBERED} {event.get('event_id')!r}"
    return _text(_field(event, "payload", Mapping, where), "text", where)


def memory_record(event: Mapping[str, Any], vector: NDArray[np.float32]) -> MemoryRecord:
    """The :class:`MemoryRecord` a ``MemoryRemembered`` envelope dict stores, with ``vector``.

    Raises:
        MalformedMemoryEvent: a required field is missing.
    """
    where = f"{MEMORY_REMEMBERED} {event.get('event_id')!r}"
    payload = _field(event, "payload", Mapping, where)
    created = payload.get("created_at_us")
    return MemoryRecord(
        memory_id=_text(payload, "memory_id", where),
        tenant=_text(event, "tenant", where),
        text=_text(payload, "text", where),
        vector=vector,
        # The decision's producer is the guard, not who asked: no fallback to it.
        source=str(payload.get("source") or "unknown"),
        created_at_us=int(created) if created is not None else _micros(event.get("ts")),
        trace_id=str(event.get("trace_id") or ""),
        capsule_id=payload.get("capsule_id"),
        text_sha256=_text(payload, "text_sha256", where),
        request_id=str(payload.get("request_id") or ""),
    )


class MemoryProjector:
    """Applies memory events to the vector store and tracks how far it got.

    * ``MemoryRemembered``: embed the (redacted) text and upsert it; idempotent by
      memory id, so redelivery is a no-op.
    * ``CapsuleRevoked``: delete the capsule's memories (idempotent).
    * ``MemoryRememberRejected``: nothing to store; the outcome is recorded.
    * anything else: ignored.

    After each event it records the Kafka position (if given) and an
    :class:`Outcome` under the memory id (and the request id when the event carries
    one), and, for a decision applied at a known position, under the decision's event
    id with that position: what :meth:`wait_for_decision` (the Memory Gateway's
    ``wait_ms``) and :meth:`wait_for` wait on, within this process.
    """

    def __init__(self, embedder: Embedder, store: MemoryStore, *, outcomes_kept: int = 10_000):
        self.embedder, self.store = embedder, store
        # Called with every record written (the brain keeps its density matrices current).
        self.listeners: list[Callable[[MemoryRecord], None]] = []
        self.revoke_listeners: list[Callable[[str, str], None]] = []
        self._positions: dict[int, int] = {}
        self._outcomes: OrderedDict[str, Outcome] = OrderedDict()
        self._decisions: OrderedDict[str, tuple[Outcome, int, int]] = OrderedDict()
        self._outcomes_kept = outcomes_kept
        self._lock = threading.Lock()

    def apply(self, event: Mapping[str, Any], position: tuple[int, int] | None = None) -> bool:
        """Apply one envelope dict; True when the store was written.

        ``position`` is ``(partition, offset)`` of the event on ``memory.events``.

        Raises:
            MalformedMemoryEvent: a memory event lacks a required field.
            MemoryStoreError: the store failed (the event should be retried).
        """
        kind = event.get("type")
        wrote = False
        outcome: Outcome | None = None
        if kind == MEMORY_REMEMBERED:
            outcome = self._remember(event)
            wrote = True
        elif kind == CAPSULE_REVOKED:
            where = f"{CAPSULE_REVOKED} {event.get('event_id')!r}"
            payload = _field(event, "payload", Mapping, where)
            delete = getattr(self.store, "delete_capsule", None)
            if delete is not None:
                tenant, capsule = _text(event, "tenant", where), _text(payload, "capsule_id", where)
                delete(tenant, capsule)
                for revoked in self.revoke_listeners:
                    revoked(tenant, capsule)
                wrote = True
        elif kind == TENANT_DATA_ERASED:
            tenant = _text(event, "tenant", f"{TENANT_DATA_ERASED} {event.get('event_id')!r}")
            erase = getattr(self.store, "delete_tenant", None)
            if erase is not None:
                erase(tenant)
                for revoked in self.revoke_listeners:  # the brain rebuilds from the store
                    revoked(tenant, "")
                wrote = True
        elif kind == MEMORY_REMEMBER_REJECTED:
            payload = event.get("payload") or {}
            outcome = Outcome(
                memory_id=str(payload.get("memory_id") or ""),
                remembered=False,
                reason_code=str(payload.get("reason_code") or payload.get("reason") or ""),
                request_id=str(payload.get("request_id") or ""),
            )
            self._record(outcome)
        if position is not None:
            with self._lock:
                partition, offset = position
                self._positions[partition] = max(offset, self._positions.get(partition, -1))
                if outcome is not None and event.get("event_id") is not None:
                    key = str(event["event_id"])
                    self._decisions[key] = (outcome, partition, offset)
                    self._decisions.move_to_end(key)
                    while len(self._decisions) > self._outcomes_kept:
                        self._decisions.popitem(last=False)
        return wrote

    def _remember(self, event: Mapping[str, Any]) -> Outcome:
        text = remembered_text(event)
        record = memory_record(event, self.embedder.embed([text])[0])
        self.store.upsert([record])
        for listener in self.listeners:
            listener(record)
        outcome = Outcome(record.memory_id, True, request_id=record.request_id)
        self._record(outcome)
        return outcome

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            for key in (outcome.memory_id, outcome.request_id):
                if not key:
                    continue
                previous = self._outcomes.get(key)
                # A stored memory stays remembered even if a later duplicate is rejected.
                if previous is None or not previous.remembered or outcome.remembered:
                    self._outcomes[key] = outcome
                self._outcomes.move_to_end(key)
            while len(self._outcomes) > self._outcomes_kept:
                self._outcomes.popitem(last=False)

    def applied_positions(self) -> dict[int, int]:
        """Highest applied offset per partition of ``memory.events`` (a copy)."""
        with self._lock:
            return dict(self._positions)

    def applied_offset(self, partition: int) -> int | None:
        """Highest offset applied on ``partition`` of ``memory.events`` (None: nothing yet)."""
        with self._lock:
            return self._positions.get(partition)

    def outcome(self, key: str) -> Outcome | None:
        """The latest outcome for a memory id or request id (the most recent ones are kept)."""
        with self._lock:
            return self._outcomes.get(key)

    async def wait_for(self, key: str, timeout_s: float) -> Outcome:
        """Wait until a decision about ``key`` (memory id or request id) has been applied.

        Raises:
            DeadlineExceeded: nothing about ``key`` was applied within ``timeout_s``.
        """

        async def probe() -> Outcome | None:
            return self.outcome(key)

        return await until_async(
            probe,
            timeout_s=timeout_s,
            what=f"memory projector to apply {key}",
            interval_s=0.005,
            max_interval_s=0.05,
        )

    def decision_after(
        self, memory_id: str, request_id: str, position: tuple[int, int]
    ) -> Outcome | None:
        """The applied decision on the request appended at ``position``, if any yet.

        The decision's event id is deterministic (:func:`decision_event_id`): the
        request's own rejection, or the memory's ``MemoryRemembered``; the latter is
        shared by every request for that memory, so it counts only when applied
        after ``position`` on the same partition (the guard appends its decision
        after reading the request, and both are keyed by tenant).
        """
        rejected = str(ids.memory_event_id(request_id, MEMORY_REMEMBER_REJECTED))
        accepted = str(ids.memory_event_id(memory_id, MEMORY_REMEMBERED)) if memory_id else ""
        partition, offset = position
        with self._lock:
            for key in (rejected, accepted):
                found = self._decisions.get(key) if key else None
                if found is not None and found[1] == partition and found[2] > offset:
                    return found[0]
        return None

    async def wait_for_decision(
        self, memory_id: str, request_id: str, position: tuple[int, int], timeout_s: float
    ) -> Outcome:
        """Wait until this projector applied the decision on the request at ``position``
        (see :meth:`decision_after`); the memory is then visible to recall if remembered.

        Raises:
            DeadlineExceeded: not applied within ``timeout_s`` (still pending, or the
                partition is projected by another process).
        """

        async def probe() -> Outcome | None:
            return self.decision_after(memory_id, request_id, position)

        return await until_async(
            probe,
            timeout_s=timeout_s,
            what=f"memory projector to apply the decision on request {request_id}",
            interval_s=0.002,
            max_interval_s=0.02,
        )

    async def wait_for_offset(self, partition: int, offset: int, timeout_s: float) -> None:
        """Wait until the projector has applied ``offset`` of ``partition`` (or later).

        Raises:
            DeadlineExceeded: it did not get there within ``timeout_s``.
        """

        async def probe() -> bool:
            applied = self.applied_offset(partition)
            return applied is not None and applied >= offset

        await until_async(
            probe,
            timeout_s=timeout_s,
            what=f"memory projector to reach memory.events {partition}-{offset}",
            interval_s=0.005,
            max_interval_s=0.05,
        )
