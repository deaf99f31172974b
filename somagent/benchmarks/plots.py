"""PNG plots beside the report (matplotlib, headless ``Agg`` backend).

* ``turn_latency.png``: turn overhead P50/P95/P99 against concurrency, with the
  baseline (hops × raw Kafka produce→consume P50) and turns/s on a second axis;
* ``replay_throughput.png``: replay events/s into ClickHouse and Postgres next to
  the raw-decode and log-read baselines of the same run.

A plot whose data is missing (the script failed) is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _data(report: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    for r in report["results"]:
        if r["name"] == name and r.get("ok") and r.get("data"):
            return dict(r["data"])
    return None


def plot_turns(turns: Mapping[str, Any], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [lv for lv in turns.get("levels", []) if lv.get("turn_overhead_ms")]
    if not levels:
        return None
    conc = [lv["concurrency"] for lv in levels]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-")):
        ax.plot(conc, [lv["turn_overhead_ms"][p] for lv in levels], style,
                label=f"turn overhead {p.upper()}")
    raw = turns.get("raw_kafka", {}).get("produce_consume_ms", {})
    hops = turns.get("kafka_hops", {}).get("turn_overhead", 4)
    if "p50" in raw:
        ax.axhline(hops * raw["p50"], color="grey", linestyle="--",
                   label=f"baseline: {hops} × raw Kafka round trip P50")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(conc, [str(c) for c in conc])
    ax.set_xlabel("concurrent turns (closed loop)")
    ax.set_ylabel("edge receive → answer (ms, log)")
    rate = ax.twinx()
    rate.plot(conc, [lv["turns_per_s"] for lv in levels], "k:", marker="x", label="turns/s")
    rate.set_ylabel("turns/s")
    rate.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = rate.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, loc="upper left", fontsize=8)
    ax.set_title("Turn overhead vs concurrency (deterministic planner, no tools)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_replay(replay: Mapping[str, Any], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [(label, replay.get(key)) for label, key in (
        ("replay → ClickHouse", "clickhouse_events_per_s"),
        ("replay → Postgres", "postgres_events_per_s"),
        ("bare insert → ClickHouse", "clickhouse_bare_insert_events_per_s"),
        ("bare insert → Postgres", "postgres_bare_insert_events_per_s"),
        ("raw fastavro decode", "raw_decode_events_per_s"),
        ("log read only", "log_read_only_events_per_s"),
    ) if isinstance(replay.get(key), int | float)]
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = ["tab:blue" if "replay" in b[0] else "tab:grey" for b in bars]
    ax.barh([b[0] for b in bars], [float(b[1] or 0) for b in bars], color=colors)
    ax.set_xlabel("events/s")
    ax.set_title(f"Replay throughput, {replay.get('events', '?')} events (baselines in grey)")
    for i, (_, value) in enumerate(bars):
        ax.text(float(value or 0), i, f" {float(value or 0):,.0f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(report: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Every plot whose data the report has; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    turns, replay = _data(report, "turns"), _data(report, "replay")
    if turns is not None:
        written.append(plot_turns(turns, out_dir / "turn_latency.png"))
    if replay is not None:
        written.append(plot_replay(replay, out_dir / "replay_throughput.png"))
    return [p for p in written if p is not None]
