"""Quantiles of Prometheus histograms, as ``histogram_quantile`` computes them (pure).

:func:`summarise` reads a text exposition (any role's ``/metrics``) and returns,
for every histogram with observations, its count and P50/P95/P99 estimated from
the cumulative buckets summed over all label sets: linear interpolation inside
the bucket that holds the rank, the lower bound of the first bucket taken as 0,
and the highest finite bound returned when the rank falls in ``+Inf`` (as
Prometheus does). Names are whatever the role exports, so metrics added later
appear without a change here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class HistogramFigures:
    name: str
    count: int
    quantiles: tuple[float, ...]  # in the metric's unit, one per QUANTILES

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"metric": self.name, "count": self.count}
        for q, v in zip(QUANTILES, self.quantiles, strict=True):
            out[f"p{round(q * 100)}"] = v
        return out


def quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """The ``q`` quantile of cumulative ``(upper_bound, count)`` buckets (sorted by bound).

    Raises:
        ValueError: no buckets, ``q`` outside [0, 1], or no observations.
    """
    if not buckets or not 0.0 <= q <= 1.0:
        raise ValueError(f"need buckets and 0 <= q <= 1, got {len(buckets)} buckets, q={q}")
    total = buckets[-1][1]
    if total <= 0:
        raise ValueError("the histogram has no observations")
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def summarise(exposition: str) -> list[HistogramFigures]:
    """Every histogram of ``exposition`` with at least one observation, by name."""
    out = []
    for family in text_string_to_metric_families(exposition):
        if family.type != "histogram":
            continue
        merged: dict[float, float] = defaultdict(float)
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                merged[float(sample.labels["le"])] += sample.value
        buckets = sorted(merged.items())
        if not buckets or buckets[-1][1] <= 0:
            continue
        figures = tuple(quantile(q, buckets) for q in QUANTILES)
        out.append(HistogramFigures(family.name, int(buckets[-1][1]), figures))
    return sorted(out, key=lambda h: h.name)
