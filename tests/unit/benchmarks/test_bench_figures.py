"""Figures and ratios from JSON recorded by real runs of bench/*.py (samples/).

The expected ratios are recomputed here from the raw fields of each sample, so a
change in how a figure or its baseline is picked shows up as a failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from somagent.benchmarks.figures import (
    Figure,
    billing_figures,
    codec_figures,
    edge_figures,
    figures_for,
    recall_figures,
    replay_figures,
    turns_figures,
)

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return data


def by_name(figures: list[Figure]) -> dict[tuple[str, str], Figure]:
    return {(f.figure, f.baseline): f for f in figures}


def test_turn_overhead_ratio_is_overhead_over_hops_times_raw_round_trip() -> None:
    data = sample("turns")
    hops = data["kafka_hops"]["turn_overhead"]
    raw = data["raw_kafka"]["produce_consume_ms"]
    figures = turns_figures(data)
    for level in data["levels"]:
        c = level["concurrency"]
        for p in ("p50", "p95", "p99"):
            f = next(x for x in figures if x.figure == f"turn overhead {p.upper()} @ c={c}")
            assert f.value == level["turn_overhead_ms"][p]
            assert f.baseline_value == pytest.approx(hops * raw[p])
            assert f.ratio == pytest.approx(level["turn_overhead_ms"][p] / (hops * raw[p]))
            assert f.better == "lower"
    assert [lv["concurrency"] for lv in data["levels"]] == [1, 16, 64]


def test_turns_per_second_rows_carry_counts() -> None:
    data = sample("turns")
    rows = [f for f in turns_figures(data) if f.unit == "turns/s"]
    assert [f.value for f in rows] == [lv["turns_per_s"] for lv in data["levels"]]
    assert all(f.ratio is None for f in rows)
    assert f"{data['levels'][0]['turns_completed']} turns" in rows[0].note


def test_codec_ratios_against_raw_fastavro() -> None:
    data = sample("codec")
    rows = by_name(codec_figures(data))
    dec = rows[("decode events/s", "raw fastavro schemaless decode")]
    assert dec.ratio == pytest.approx(
        data["codec_decode_events_per_s"] / data["raw_decode_events_per_s"])


def test_billing_baseline_adds_raw_consume_from_replay() -> None:
    billing, replay = sample("billing"), sample("replay")
    decode, consume = billing["raw_decode_events_per_s"], replay["log_read_only_events_per_s"]
    rows = by_name(billing_figures(billing, consume))
    combined = rows[("transactional worker usage events/s", "raw fastavro decode + raw consume")]
    assert combined.baseline_value == pytest.approx(1 / (1 / decode + 1 / consume))
    assert combined.value == billing["worker_events_per_s"]
    assert len(billing_figures(billing, None)) == len(billing_figures(billing, consume)) - 1


def test_replay_rows_per_store() -> None:
    data = sample("replay")
    rows = by_name(replay_figures(data))
    ch = rows[("replay into clickhouse events/s", "raw fastavro decode")]
    assert ch.ratio == pytest.approx(
        data["clickhouse_events_per_s"] / data["raw_decode_events_per_s"])
    assert ("replay into postgres events/s", "raw fastavro decode") in rows


def test_recall_rows_per_corpus_size() -> None:
    data = sample("recall")
    rows = by_name(recall_figures(data))
    first = data["results"][0]
    label = f"{first['memories'] // 1000}k"
    p95 = rows[(f"search P95 @ {label}", "exact numpy brute force")]
    assert p95.ratio == pytest.approx(first["search_p95_ms"] / first["exact_p95_ms"])
    assert rows[(f"recall@10 @ {label}", "exact top 10")].value == first["recall_at_10"]


def test_edge_memory_per_stream_is_rss_over_streams() -> None:
    data = sample("edge")
    rows = {f.figure: f for f in edge_figures(data)}
    per_stream = rows["memory per stream (RSS / streams, upper bound)"]
    assert per_stream.value == pytest.approx(
        data["server_rss_mib_with_streams_open"] * 1024 / data["streams_open_server_gauge"])


def test_all_benchmarks_in_order_and_missing_ones_skipped() -> None:
    names = ("codec", "turns", "billing", "replay", "recall", "edge", "math")
    results = {n: sample(n) for n in names}
    benches = [f.bench for f in figures_for(results)]
    assert list(dict.fromkeys(benches)) == list(names)
    partial = figures_for({"codec": results["codec"], "turns": None})
    assert {f.bench for f in partial} == {"codec"}


def test_ratio_needs_a_nonzero_baseline() -> None:
    assert Figure("x", "y", 1.0, "ms").ratio is None
    assert Figure("x", "y", 1.0, "ms", "b", 0.0).ratio is None
    assert Figure("x", "y", 3.0, "ms", "b", 2.0).to_dict()["ratio"] == 1.5


def test_memory_per_stream_is_the_rss_slope_between_two_runs() -> None:
    big, small = sample("edge"), sample("edge.small")
    rows = {f.figure: f for f in edge_figures(big, small)}
    slope = rows["memory per stream (marginal)"]
    expected = (big["server_rss_mib_with_streams_open"] - small["server_rss_mib_with_streams_open"]
                ) * 1024 / (big["streams_open_server_gauge"] - small["streams_open_server_gauge"])
    assert slope.value == pytest.approx(expected)
    assert "memory per stream (marginal)" not in {f.figure for f in edge_figures(big)}
    with_small = figures_for({"edge": big, "edge.small": small})
    assert any(f.figure == "memory per stream (marginal)" for f in with_small)
