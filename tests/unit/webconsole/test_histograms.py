"""Histogram quantiles as Prometheus's histogram_quantile computes them."""

from __future__ import annotations

import math

import pytest

from somagent.webconsole.histograms import quantile, summarise

INF = math.inf


def test_linear_interpolation_inside_the_bucket() -> None:
    buckets = [(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (INF, 40.0)]
    assert quantile(0.25, buckets) == pytest.approx(0.1)  # rank 10: the first bucket's top
    assert quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * (20 - 10) / (30 - 10))
    assert quantile(0.95, buckets) == pytest.approx(0.5 + 0.5 * (38 - 30) / (40 - 30))


def test_the_first_bucket_starts_at_zero_and_inf_gives_the_highest_bound() -> None:
    assert quantile(0.5, [(2.0, 4.0), (INF, 4.0)]) == pytest.approx(1.0)
    assert quantile(0.99, [(1.0, 1.0), (INF, 100.0)]) == pytest.approx(1.0)


@pytest.mark.parametrize("q,buckets", [(0.5, []), (1.5, [(1.0, 1.0)]), (0.5, [(1.0, 0.0)])])
def test_undefined_quantiles_raise(q: float, buckets: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError):
        quantile(q, buckets)


EXPOSITION = """\
# HELP somagent_x_seconds X
# TYPE somagent_x_seconds histogram
somagent_x_seconds_bucket{route="a",le="0.1"} 1.0
somagent_x_seconds_bucket{route="a",le="1.0"} 3.0
somagent_x_seconds_bucket{route="a",le="+Inf"} 3.0
somagent_x_seconds_count{route="a"} 3.0
somagent_x_seconds_sum{route="a"} 1.2
somagent_x_seconds_bucket{route="b",le="0.1"} 1.0
somagent_x_seconds_bucket{route="b",le="1.0"} 1.0
somagent_x_seconds_bucket{route="b",le="+Inf"} 1.0
somagent_x_seconds_count{route="b"} 1.0
somagent_x_seconds_sum{route="b"} 0.05
# HELP somagent_empty_seconds never observed
# TYPE somagent_empty_seconds histogram
somagent_empty_seconds_bucket{le="1.0"} 0.0
somagent_empty_seconds_bucket{le="+Inf"} 0.0
somagent_empty_seconds_count 0.0
somagent_empty_seconds_sum 0.0
# HELP somagent_requests_total counter
# TYPE somagent_requests_total counter
somagent_requests_total 5.0
"""


def test_summarise_merges_label_sets_and_skips_empty_histograms_and_counters() -> None:
    (only,) = summarise(EXPOSITION)
    assert only.name == "somagent_x_seconds" and only.count == 4
    merged = [(0.1, 2.0), (1.0, 4.0), (INF, 4.0)]
    assert only.quantiles == tuple(quantile(q, merged) for q in (0.5, 0.95, 0.99))
    assert only.as_dict()["p95"] == only.quantiles[1]
