"""Rows of the report: each figure next to the baseline measured in the same run.

Pure functions over the JSON each ``bench/*.py`` prints (no I/O). A :class:`Figure`
carries its value, the baseline's value and ``ratio = value / baseline``; whether a
ratio above 1 is good depends on the unit (``events/s``: higher is better; ``ms``:
lower is better), which ``better`` says. Benchmarks whose JSON lacks a field yield
fewer rows rather than failing: a figure is only reported when it was measured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

Json = Mapping[str, Any]


@dataclass(frozen=True)
class Figure:
    """One measured figure; ``ratio`` is ``value / baseline_value`` (None without a baseline)."""

    bench: str
    figure: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    better: str = "higher"  # "higher" or "lower": which way the value improves
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value is None or self.baseline_value == 0:
            return None
        return self.value / self.baseline_value

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        return row


def _num(data: Json, key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def codec_figures(data: Json) -> list[Figure]:
    out = []
    for side in ("encode", "decode"):
        ours, raw = _num(data, f"codec_{side}_events_per_s"), _num(data, f"raw_{side}_events_per_s")
        if ours is not None:
            out.append(Figure("codec", f"{side} events/s", ours, "events/s",
                              f"raw fastavro schemaless {side}", raw))
    return out


def _hops(data: Json) -> int:
    hops = data.get("kafka_hops", {}).get("turn_overhead")
    return int(hops) if isinstance(hops, int) else 4


def turns_figures(data: Json) -> list[Figure]:
    """Turn overhead P50/P95/P99 per concurrency vs hops × raw produce→consume, and turns/s."""
    hops = _hops(data)
    raw = data.get("raw_kafka", {}).get("produce_consume_ms", {})
    out = []
    for level in data.get("levels", []):
        c = level.get("concurrency")
        overhead = level.get("turn_overhead_ms", {})
        for p in ("p50", "p95", "p99"):
            if p in overhead:
                base = raw.get(p)
                out.append(Figure(
                    "turns", f"turn overhead {p.upper()} @ c={c}", float(overhead[p]), "ms",
                    f"{hops} × raw Kafka produce→consume {p.upper()}",
                    None if base is None else hops * float(base), better="lower"))
        rate = _num(level, "turns_per_s")
        if rate is not None:
            refused = sum(level.get("refused_by_status", {}).values())
            out.append(Figure("turns", f"turns/s @ c={c}", rate, "turns/s",
                              note=f"{level.get('turns_completed', 0)} turns, "
                                   f"{level.get('turns_failed', 0)} failed, {refused} refused"))
    return out


def billing_figures(data: Json, log_read_per_s: float | None = None) -> list[Figure]:
    """Worker usage events/s vs raw decode (+ raw consume when a log-read rate is known)."""
    worker, raw = _num(data, "worker_events_per_s"), _num(data, "raw_decode_events_per_s")
    if worker is None:
        return []
    out = [Figure("billing", "transactional worker usage events/s", worker, "events/s",
                  "raw fastavro decode", raw)]
    agent = _num(data, "faust_agent_events_per_s")
    ceiling = _num(data, "faust_consume_only_events_per_s")
    if agent is not None:
        out.append(Figure("billing", "Faust billing agent usage events/s", agent, "events/s",
                          "Faust agent consuming only", ceiling,
                          note="a Faust agent that only counts and acks the same raw records"))
    if raw and log_read_per_s:
        serial = 1.0 / (1.0 / raw + 1.0 / log_read_per_s)
        out.append(Figure("billing", "transactional worker usage events/s", worker, "events/s",
                          "raw fastavro decode + raw consume", serial,
                          note="decode then consume, one after the other (consume rate: replay's "
                               "log_read_only in this run); the worker overlaps the two"))
    core = _num(data, "core_events_per_s")
    if core is not None:
        out.append(Figure("billing", "core (decode+price+ledger) events/s", core, "events/s",
                          "raw fastavro decode", raw))
    return out


def replay_figures(data: Json) -> list[Figure]:
    raw = _num(data, "raw_decode_events_per_s")
    bare = {k: _num(data, f"{k}_bare_insert_events_per_s") for k in ("clickhouse", "postgres")}
    out = []
    for store in ("clickhouse", "postgres"):
        rate = _num(data, f"{store}_events_per_s")
        if rate is None:
            continue
        if bare[store] is not None:
            out.append(Figure("replay", f"replay into {store} events/s", rate, "events/s",
                              f"bare bulk insert into {store}", bare[store]))
        out.append(Figure("replay", f"replay into {store} events/s", rate, "events/s",
                          "raw fastavro decode", raw))
    log_read = _num(data, "log_read_only_events_per_s")
    if log_read is not None:
        out.append(Figure("replay", "log read only events/s", log_read, "events/s",
                          "raw fastavro decode", raw, note="the Kafka client's ceiling"))
    return out


def recall_figures(data: Json) -> list[Figure]:
    out = []
    for size in data.get("results", []):
        n = int(size.get("memories", 0))
        label = f"{n // 1000}k" if n >= 1000 else str(n)
        for p in ("p50", "p95"):
            ours, exact = _num(size, f"search_{p}_ms"), _num(size, f"exact_{p}_ms")
            if ours is not None:
                out.append(Figure("recall", f"search {p.upper()} @ {label}", ours, "ms",
                                  "exact numpy brute force", exact, better="lower"))
        at10 = _num(size, "recall_at_10")
        if at10 is not None:
            out.append(Figure("recall", f"recall@10 @ {label}", at10, "fraction",
                              "exact top 10", 1.0, note=str(data.get("engine", ""))))
    return out


def edge_figures(data: Json, small: Json | None = None) -> list[Figure]:
    """Streams held, RSS, memory per stream (slope against ``small``, a run with fewer
    streams, when given) and SSE latency against a direct consumer."""
    out = []
    streams = _num(data, "streams_open_server_gauge")
    rss = _num(data, "server_rss_mib_with_streams_open")
    if streams is not None:
        out.append(Figure("edge", "concurrent SSE streams in one process", streams, "streams",
                          "streams requested", _num(data, "streams_requested"),
                          note=f"0 lost: {data.get('events_lost') == 0}, "
                               f"0 repeated: {data.get('events_repeated') == 0}"))
    if streams and rss is not None:
        out.append(Figure("edge", "server RSS with streams open", rss, "MiB", better="lower"))
        out.append(Figure("edge", "memory per stream (RSS / streams, upper bound)",
                          rss * 1024 / streams, "KiB", better="lower",
                          note="includes the process's base RSS"))
    small_streams = _num(small or {}, "streams_open_server_gauge")
    small_rss = _num(small or {}, "server_rss_mib_with_streams_open")
    if streams and rss is not None and small_streams is not None and small_rss is not None \
            and streams > small_streams:
        slope = (rss - small_rss) * 1024 / (streams - small_streams)
        out.append(Figure("edge", "memory per stream (marginal)", slope, "KiB", better="lower",
                          note=f"RSS slope between {small_streams:.0f} and {streams:.0f} streams"))
    sse = data.get("sse_latency_ms", {})
    direct = data.get("direct_consumer_latency_ms", {})
    if "p50" in sse:
        out.append(Figure("edge", "SSE event latency P50", float(sse["p50"]), "ms",
                          "direct Kafka consumer P50", direct.get("p50"), better="lower"))
    return out


def math_figures(data: Json) -> list[Figure]:
    out = []
    erlang = data.get("erlang_c", {}).get("points", [])
    if erlang:
        last = erlang[-1]
        out.append(Figure("math", f"Erlang C, k={last['servers']} (s)", float(last["seconds"]),
                          "s", "scipy log-space formula", last.get("baseline_seconds"),
                          better="lower"))
    for point in data.get("potentials", {}).get("points", []):
        if "dense_baseline_seconds" in point:
            out.append(Figure("math", f"Laplacian potentials, {point['nodes']} nodes (s)",
                              float(point["seconds"]), "s", "dense numpy solve",
                              point["dense_baseline_seconds"], better="lower"))
    for point in data.get("assign", {}).get("points", []):
        if "milp_baseline_seconds" in point:
            out.append(Figure("math", f"assignment, {point['tasks']} tasks (s)",
                              float(point["seconds"]), "s", "HiGHS MILP",
                              point["milp_baseline_seconds"], better="lower"))
    return out


def jobs_figures(data: Json) -> list[Figure]:
    """``bench/jobs.py``: a job step's marginal time beside a bare Temporal activity's,
    and jobs/s through the edge at each concurrency."""
    out = []
    step = data.get("step_overhead") or {}
    job, bare = _num(step, "job_step_ms"), _num(step, "bare_activity_ms")
    if job is not None:
        out.append(Figure("jobs", "job step (no-op calc) marginal time", job, "ms",
                          "bare Temporal activity step", bare, better="lower",
                          note="incl. 2 job events + usage appended with acks, broker gate"))
    for level in (data.get("throughput") or {}).values():
        rate = _num(level, "jobs_per_s")
        if rate is not None:
            done = level.get("completed", 0)
            out.append(Figure("jobs", f"jobs/s @ c={level.get('concurrency')}", rate, "jobs/s",
                              note=f"{done} two-step jobs, outcomes {level.get('outcomes')}"))
    return out


EXTRACTORS: dict[str, Callable[[Json], list[Figure]]] = {
    "codec": codec_figures,
    "turns": turns_figures,
    "replay": replay_figures,
    "recall": recall_figures,
    "edge": edge_figures,
    "math": math_figures,
    "jobs": jobs_figures,
}


def figures_for(results: Mapping[str, Json | None]) -> list[Figure]:
    """Every figure of every benchmark that produced JSON, in a stable order."""
    out: list[Figure] = []
    replay = results.get("replay") or {}
    for name in ("codec", "turns", "billing", "replay", "recall", "edge", "math", "jobs"):
        data = results.get(name)
        if not data:
            continue
        if name == "billing":
            out += billing_figures(data, _num(replay, "log_read_only_events_per_s"))
        elif name == "edge":
            out += edge_figures(data, results.get("edge.small"))
        else:
            out += EXTRACTORS[name](data)
    return out
