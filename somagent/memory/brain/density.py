"""Per tenant and per capsule density matrices ρ over memory vectors.

For each scope (a capsule, or ``None``: the tenant's memories outside capsules) the
book accumulates G = Σ vᵢvᵢᵀ over the scope's memories plus κ·Σ uⱼuⱼᵀ over the
vectors of evidence marked useful (κ = ``feedback_weight``), and serves
ρ = :func:`somagent.math.density.from_gram` (G) truncated to ``rank`` directions and
normalised to trace 1. The feature of a candidate in scope C for query q is
⟨q|ρ_C|q⟩: how much of the query lies in what that scope holds (and what proved
useful there). Tenants never share a book; capsules never share a ρ.

A tenant's Gram matrices are built on first use from the store's vectors (one scroll)
and then kept current by the projector (every remembered memory adds its vvᵀ) and by
feedback; a revoked capsule drops the tenant's book, rebuilt on next use. ρ is
re-diagonalised at most every ``refresh_s`` seconds per scope (the clock is passed in).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from somagent.math.density import Density, from_gram

Scope = str | None
Scroll = Callable[[str], Iterator[tuple[list[str | None], NDArray[np.float32]]]]


@dataclass
class _Scope:
    gram: NDArray[np.float64]
    rho: Density | None = None
    built_at_s: float = -1e18
    dirty: bool = True


@dataclass
class _Tenant:
    scopes: dict[Scope, _Scope] = field(default_factory=dict)


class DensityBook:
    """ρ per (tenant, scope); feedback vectors survive rebuilds (they come from the log)."""

    def __init__(
        self, dim: int, scroll: Scroll, *, rank: int, feedback_weight: float, refresh_s: float
    ) -> None:
        self.dim, self._scroll = dim, scroll
        self.rank, self.feedback_weight, self.refresh_s = rank, feedback_weight, refresh_s
        self._tenants: dict[str, _Tenant] = {}
        self._feedback: dict[tuple[str, Scope], NDArray[np.float64]] = {}
        self._lock = threading.RLock()

    def _add(self, tenant: _Tenant, scope: Scope, vectors: NDArray[np.float64], w: float) -> None:
        entry = tenant.scopes.setdefault(scope, _Scope(np.zeros((self.dim, self.dim))))
        entry.gram += w * (vectors.T @ vectors)
        entry.dirty = True

    def _tenant(self, tenant: str) -> _Tenant:
        found = self._tenants.get(tenant)
        if found is not None:
            return found
        built = _Tenant()
        for capsules, vectors in self._scroll(tenant):
            v = np.asarray(vectors, dtype=np.float64)
            for scope in set(capsules):
                rows = [i for i, c in enumerate(capsules) if c == scope]
                self._add(built, scope, v[rows], 1.0)
        for (owner, scope), gram in self._feedback.items():
            if owner == tenant:
                entry = built.scopes.setdefault(scope, _Scope(np.zeros((self.dim, self.dim))))
                entry.gram += self.feedback_weight * gram
        self._tenants[tenant] = built
        return built

    def remembered(self, tenant: str, scope: Scope, vector: NDArray[np.float32]) -> None:
        """A memory was stored: add it where the tenant's book is already built."""
        with self._lock:
            found = self._tenants.get(tenant)
            if found is not None:
                self._add(found, scope, np.asarray(vector, dtype=np.float64)[None, :], 1.0)

    def revoked(self, tenant: str) -> None:
        """A capsule was revoked: forget the tenant's book (rebuilt on next use)."""
        with self._lock:
            self._tenants.pop(tenant, None)

    def useful(self, tenant: str, scope: Scope, vectors: NDArray[np.float64]) -> None:
        """Evidence proved useful: it weighs κ more in its scope's ρ (from now on, and after
        any rebuild, since feedback is replayed from the log)."""
        v = np.asarray(vectors, dtype=np.float64).reshape(-1, self.dim)
        with self._lock:
            key = (tenant, scope)
            self._feedback[key] = self._feedback.get(key, np.zeros((self.dim, self.dim))) + v.T @ v
            found = self._tenants.get(tenant)
            if found is not None:
                self._add(found, scope, v, self.feedback_weight)

    def densities(self, tenant: str, scopes: Iterable[Scope], now_s: float) -> dict[Scope, Density]:
        """ρ of each wanted scope that holds anything (refreshed if stale)."""
        out: dict[Scope, Density] = {}
        with self._lock:
            book = self._tenant(tenant)
            for scope in set(scopes):
                entry = book.scopes.get(scope)
                if entry is None or not np.any(entry.gram):
                    continue
                if entry.rho is None or (
                    entry.dirty and now_s - entry.built_at_s >= self.refresh_s
                ):
                    entry.rho = from_gram(entry.gram, self.rank)
                    entry.built_at_s, entry.dirty = now_s, False
                out[scope] = entry.rho
        return out

    def expectations(
        self, tenant: str, query: NDArray[np.float32], scopes: list[Scope], now_s: float
    ) -> NDArray[np.float64]:
        """⟨q|ρ_scope|q⟩ for each candidate's scope, divided by the largest among them
        (so in [0, 1]; 0 for a scope holding nothing)."""
        rhos = self.densities(tenant, scopes, now_s)
        q = np.asarray(query, dtype=np.float64)
        by_scope = {s: float(r.expectation(q)) for s, r in rhos.items()}
        raw = np.array([by_scope.get(s, 0.0) for s in scopes])
        top = float(raw.max(initial=0.0))
        return raw / top if top > 0 else raw
