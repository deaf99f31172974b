"""The brain: ``evaluate`` builds a ContextBundle, ``feedback`` tunes the weights.

Evaluate (no state changes besides remembering the bundle for feedback):
redact and embed the query → fetch ``pool`` candidates with their vectors from the
vector store (tenant and capsule filters as recall) → features (:mod:`.features`) →
utility u = X·w with the scope's weights → best ``top_k`` by u, confidence by the
scope's calibration → prompt.

Feedback (serialised per process): the bundle and the useful ids are checked first
(unknown bundle, ids that were not candidates: :class:`UnknownBundle` /
:class:`UnknownEvidence`, nothing appended, nothing changed); then
``BrainFeedbackGiven`` is appended (acks=all) and applied
(:meth:`Brain.apply_event`: tuner step or held-out check, FRGO graph, usefulness
counts, ρ reweighting), then ``BrainWeightsUpdated`` records the outcome. Applying
is idempotent by event id, and the gateway replays the log's feedback events at
start, so the weights after a restart equal the weights before it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from somagent.contract import names
from somagent.events.envelope import make_event, now_us
from somagent.math.utility import FEATURES, WEIGHT_NAMES, Example, utilities
from somagent.memory import pii
from somagent.memory.brain.bundle import ContextBundle, RankedEvidence, assemble_prompt
from somagent.memory.brain.config import BrainConfig
from somagent.memory.brain.density import DensityBook
from somagent.memory.brain.features import Candidate, feature_matrix, from_nano, rounded, to_nano
from somagent.memory.brain.graph import GraphRule, MemoryGraph
from somagent.memory.brain.structure import RecordEncoder
from somagent.memory.brain.tuner import Tuner, WeightsUpdate
from somagent.memory.embedder import Embedder
from somagent.memory.exceptions import UnknownBundle, UnknownEvidence, WeightsOutOfBounds
from somagent.memory.model import MemoryRecord
from somagent.memory.recall import validate_recall
from somagent.memory.store import MemoryStore, VectorSource

log = logging.getLogger(__name__)

PRODUCER = "somabrain"
Append = Callable[[Mapping[str, Any]], Awaitable[tuple[int, int]]]


class BrainStore(MemoryStore, VectorSource, Protocol):
    """The store the brain reads: recall plus vectors."""


@dataclass(frozen=True, slots=True)
class _Bundle:
    tenant: str
    scope: str | None
    candidate_ids: tuple[str, ...]
    returned: int
    features: NDArray[np.float64]
    vectors: NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    feedback_event_id: str
    held_out: bool
    update: WeightsUpdate


class Brain:
    """Evaluate and feedback for every tenant of one gateway (see the module doc)."""

    def __init__(
        self,
        embedder: Embedder,
        store: BrainStore,
        *,
        pii_key: bytes | None = None,
        config: BrainConfig | None = None,
        clock_us: Callable[[], int] = now_us,
    ) -> None:
        self.config = cfg = config or BrainConfig()
        self.embedder, self.store, self._pii_key, self._clock_us = (
            embedder,
            store,
            pii_key,
            clock_us,
        )
        self.encoder = RecordEncoder(cfg.hrr_dim, omega=cfg.hrr_omega)
        self.book = DensityBook(
            embedder.dim,
            store.scroll_vectors,
            rank=cfg.rho_rank,
            feedback_weight=cfg.rho_feedback_weight,
            refresh_s=cfg.rho_refresh_s,
        )
        self.tuner = Tuner(cfg)
        self._rule = GraphRule(
            cfg.graph_alpha, cfg.graph_beta, cfg.graph_tau_steps, cfg.graph_min_conductance
        )
        self.graphs: dict[str, MemoryGraph] = {}
        self.useful_counts: dict[str, dict[str, int]] = {}
        self._bundles: OrderedDict[str, _Bundle] = OrderedDict()
        self._applied: OrderedDict[str, None] = OrderedDict()
        self._own: set[str] = set()
        self._state = threading.RLock()
        self._feedback = asyncio.Lock()
        self.timings_s: dict[str, float] = {}

    # -- evaluate -------------------------------------------------------------

    def _check_weights(self, weights: Sequence[float] | None) -> NDArray[np.float64] | None:
        if weights is None:
            return None
        w = np.asarray(weights, dtype=np.float64)
        if not self.config.bounds.contains(w):
            raise WeightsOutOfBounds(
                f"weights {list(w)} outside the bounds {self.config.bounds.low} .. "
                f"{self.config.bounds.high} ({', '.join(WEIGHT_NAMES)})"
            )
        return w

    def evaluate_sync(
        self,
        tenant: str,
        query: str,
        top_k: int = 5,
        capsule_ids: Sequence[str] | None = None,
        directives: Sequence[str] = (),
        weights: Sequence[float] | None = None,
    ) -> ContextBundle:
        """Blocking evaluate; see :meth:`evaluate`."""
        validate_recall(tenant, query, top_k, capsule_ids)
        explicit = self._check_weights(weights)
        scope = capsule_ids[0] if capsule_ids is not None and len(capsule_ids) == 1 else None
        t0 = time.perf_counter()
        text = pii.redact(query, self._pii_key).text if self._pii_key else query
        qv = self.embedder.embed([text])[0]
        t1 = time.perf_counter()
        found = self.store.search_vectors(tenant, qv, max(self.config.pool, top_k), capsule_ids)
        t2 = time.perf_counter()
        candidates = [Candidate(b, v) for b, v in found]
        with self._state:
            x, _ = feature_matrix(
                tenant=tenant,
                query_text=text,
                query_vector=qv,
                candidates=candidates,
                book=self.book,
                graph=self.graphs.get(tenant),
                useful_counts=self.useful_counts.get(tenant, {}),
                encoder=self.encoder,
                now_us=self._clock_us(),
                recency_scale_s=self.config.recency_scale_s,
                importance_scale=self.config.importance_scale,
            )
            w = explicit if explicit is not None else self.tuner.weights((tenant, scope))
            u = utilities(x, w)
            confidence = self.tuner.confidence((tenant, scope), u)
        t3 = time.perf_counter()
        order = np.argsort(-u, kind="stable")
        ranked = tuple(
            RankedEvidence(
                candidates[i].block,
                tuple(float(v) for v in x[i]),
                float(u[i]),
                float(confidence[i]),
            )
            for i in order[:top_k]
        )
        bundle_id = str(uuid.uuid4())
        self._remember_bundle(
            bundle_id,
            _Bundle(
                tenant,
                scope,
                tuple(candidates[i].block.memory_id for i in order),
                len(ranked),
                x[order],
                np.stack([candidates[i].vector for i in order])
                if candidates
                else np.zeros((0, self.embedder.dim), dtype=np.float32),
            ),
        )
        self.timings_s = {
            "embed": t1 - t0,
            "search": t2 - t1,
            "score": t3 - t2,
            "bundle": time.perf_counter() - t3,
        }
        return ContextBundle(
            bundle_id,
            tenant,
            query,
            scope,
            ranked,
            tuple(directives),
            tuple(float(v) for v in w),
            assemble_prompt(query, ranked, directives),
        )

    async def evaluate(
        self,
        tenant: str,
        query: str,
        top_k: int = 5,
        capsule_ids: Sequence[str] | None = None,
        directives: Sequence[str] = (),
        weights: Sequence[float] | None = None,
    ) -> ContextBundle:
        """The ContextBundle for ``query``: the ``top_k`` best candidates by utility.

        Raises:
            InvalidRecallRequest: as recall (empty query, ``top_k`` outside 1..50, ...).
            WeightsOutOfBounds: explicit ``weights`` outside the configured bounds.
            MemoryStoreError: the vector store failed.
        """
        validate_recall(tenant, query, top_k, capsule_ids)
        self._check_weights(weights)
        return await asyncio.to_thread(
            self.evaluate_sync, tenant, query, top_k, capsule_ids, directives, weights
        )

    def _remember_bundle(self, bundle_id: str, bundle: _Bundle) -> None:
        with self._state:
            self._bundles[bundle_id] = bundle
            while len(self._bundles) > self.config.bundles_kept:
                self._bundles.popitem(last=False)

    # -- feedback -------------------------------------------------------------

    def feedback_event(
        self, tenant: str, bundle_id: str, useful_ids: Sequence[str], trace_id: str
    ) -> dict[str, Any]:
        """The ``BrainFeedbackGiven`` envelope for this feedback (validated; nothing changes).

        Raises:
            UnknownBundle: no such bundle for ``tenant`` here (never built, or forgotten).
            UnknownEvidence: ``useful_ids`` empty, or naming memories not among the candidates.
        """
        with self._state:
            bundle = self._bundles.get(bundle_id)
        if bundle is None or bundle.tenant != tenant:
            raise UnknownBundle(f"bundle {bundle_id!r} is unknown for tenant {tenant!r}")
        wanted = list(dict.fromkeys(useful_ids))
        unknown = sorted(set(wanted) - set(bundle.candidate_ids))
        if not wanted or unknown:
            raise UnknownEvidence(
                f"useful ids {unknown or '[]'} are not candidates of bundle {bundle_id!r}"
            )
        rows = [bundle.candidate_ids.index(i) for i in wanted]
        digest = hashlib.blake2b(bundle_id.encode(), digest_size=8).digest()
        held_out = int.from_bytes(digest, "big") % self.config.held_out_every == 0
        payload = {
            "bundle_id": bundle_id,
            "scope": bundle.scope,
            "candidate_ids": list(bundle.candidate_ids),
            "returned": bundle.returned,
            "feature_names": list(FEATURES),
            "features_nano": to_nano(bundle.features.ravel()),
            "useful_ids": wanted,
            "useful_vectors_nano": to_nano(bundle.vectors[rows].astype(np.float64).ravel()),
            "vector_dim": int(bundle.vectors.shape[1]),
            "held_out": held_out,
            "given_at_us": self._clock_us(),
        }
        return dict(
            make_event(
                names.BRAIN_FEEDBACK_GIVEN,
                payload,
                tenant=tenant,
                producer=PRODUCER,
                trace_id=trace_id,
            )
        )

    async def feedback(
        self,
        tenant: str,
        bundle_id: str,
        useful_ids: Sequence[str],
        trace_id: str,
        append: Append,
    ) -> FeedbackResult:
        """Validate, append ``BrainFeedbackGiven``, apply it, append ``BrainWeightsUpdated``.

        Raises:
            UnknownBundle, UnknownEvidence: bad input; nothing appended or changed.
            SomagentError: Kafka did not acknowledge (nothing changed when it was the
                feedback event; the state follows the log otherwise).
        """
        async with self._feedback:
            event = self.feedback_event(tenant, bundle_id, useful_ids, trace_id)
            event_id = str(event["event_id"])
            with self._state:  # the Faust agent reading it back must not apply it first
                self._own.add(event_id)
            try:
                await append(event)
                update = await asyncio.to_thread(self.apply_event, event, own=True)
            finally:
                with self._state:
                    self._own.discard(event_id)
            assert update is not None
            await append(self.weights_event(event, update))
            return FeedbackResult(
                str(event["event_id"]), bool(event["payload"]["held_out"]), update
            )

    def weights_event(self, feedback: Mapping[str, Any], update: WeightsUpdate) -> dict[str, Any]:
        """The ``BrainWeightsUpdated`` envelope recording ``update``."""

        def nano_or_none(x: float) -> int | None:
            return None if np.isnan(x) else to_nano([x])[0]

        payload = {
            "feedback_event_id": str(feedback["event_id"]),
            "scope": feedback["payload"]["scope"],
            "weight_names": list(WEIGHT_NAMES),
            "weights_before_nano": to_nano(update.before),
            "weights_after_nano": to_nano(update.after),
            "last_good_nano": to_nano(update.last_good),
            "heldout_mrr_candidate_nano": nano_or_none(update.mrr_candidate),
            "heldout_mrr_good_nano": nano_or_none(update.mrr_good),
            "rolled_back": update.rolled_back,
            "step": update.step,
        }
        return dict(
            make_event(
                names.BRAIN_WEIGHTS_UPDATED,
                payload,
                tenant=str(feedback["tenant"]),
                producer=PRODUCER,
                trace_id=str(feedback["trace_id"]),
            )
        )

    def apply_event(self, event: Mapping[str, Any], *, own: bool = False) -> WeightsUpdate | None:
        """Apply a ``BrainFeedbackGiven`` (once per event id); other types are ignored.

        An event this process is appending itself is applied by :meth:`feedback`
        (``own``), never by the agent that reads it back meanwhile.
        """
        if event.get("type") != names.BRAIN_FEEDBACK_GIVEN:
            return None
        event_id = str(event["event_id"])
        p = event["payload"]
        tenant, scope = str(event["tenant"]), p.get("scope")
        ids = list(p["candidate_ids"])
        x = from_nano(p["features_nano"]).reshape(len(ids), len(p["feature_names"]))
        useful = np.isin(np.asarray(ids), list(p["useful_ids"]))
        with self._state:
            if event_id in self._applied or (event_id in self._own and not own):
                return None
            self._applied[event_id] = None
            while len(self._applied) > 100_000:
                self._applied.popitem(last=False)
            update = self.tuner.apply((tenant, scope), Example(x, useful), bool(p["held_out"]))
            graph = self.graphs.setdefault(tenant, MemoryGraph(self._rule))
            graph.observe(list(p["useful_ids"]), ids[: int(p.get("returned") or len(ids))])
            counts = self.useful_counts.setdefault(tenant, {})
            for memory_id in p["useful_ids"]:
                counts[memory_id] = counts.get(memory_id, 0) + 1
            dim = int(p.get("vector_dim") or 0)
            if dim == self.embedder.dim and p.get("useful_vectors_nano"):
                self.book.useful(tenant, scope, rounded(from_nano(p["useful_vectors_nano"])))
        return update

    # -- hooks from the projector ------------------------------------------------

    def on_record(self, record: MemoryRecord) -> None:
        """The projector stored ``record``: its vector joins its scope's ρ."""
        self.book.remembered(record.tenant, record.capsule_id, record.vector)

    def on_revoke(self, tenant: str, capsule_id: str) -> None:
        """A capsule was revoked: the tenant's ρ are rebuilt from the store on next use."""
        self.book.revoked(tenant)
