"""A live platform (`somagent up`) exporting traces to a real Jaeger on loopback ports.

Every role process serves its own series on /metrics after a turn, and `somagent
metrics` aggregates them labelled by process; one turn is one trace across the edge,
worker, tool, memory, billing and projector processes, retrieved from Jaeger's
query API with its parent links (docs/observability.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from platform_helpers import new_session, run_turn, somagent
from prometheus_client.parser import text_string_to_metric_families

from somagent.config import Settings
from somagent.stack.jaeger import JaegerPorts, argv, build, config
from somagent.stack.testing import fresh_stack_settings
from somagent.wait import until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerPorts]:
    settings = fresh_stack_settings(tmp_path_factory.mktemp("jaeger-home"))
    binary = build(settings)  # cached after the first build (see somagent.stack.jaeger)
    ports = JaegerPorts.free()
    home = tmp_path_factory.mktemp("jaeger")
    (home / "config.yaml").write_text(config(ports))
    env = {**os.environ, "OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "none"}
    with open(home / "jaeger.log", "wb") as log:
        proc = subprocess.Popen(argv(binary, home / "config.yaml"), stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=home)
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError((home / "jaeger.log").read_text()[-2000:])
            try:
                return httpx.get(f"http://127.0.0.1:{ports.health}/status", timeout=1).is_success
            except httpx.HTTPError:
                return False

        until(healthy, timeout_s=60, what="jaeger health check")
        yield ports
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, jaeger: JaegerPorts) -> Iterator[Settings]:
    settings = fresh_stack_settings(tmp_path_factory.mktemp("observe-home")).model_copy(
        update={"otlp_endpoint": jaeger.otlp_endpoint})
    try:
        started = somagent(settings, "up", "--workers", "1", "--jobs", "0")
        assert started.returncode == 0, started.stdout + started.stderr
        yield settings
    finally:
        stopped = somagent(settings, "down")
        assert "platform" in stopped.stdout, stopped.stdout + stopped.stderr


def _metrics_urls(settings: Settings) -> dict[str, str]:
    state = json.loads((settings.home_dir / "run" / "platform.json").read_text())
    return {r["name"]: r["health_url"].rsplit("/", 1)[0] + "/metrics" for r in state["instances"]}


def _samples(url: str) -> list[tuple[str, dict[str, str], float]]:
    text = httpx.get(url, timeout=10).text
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text)
            for s in f.samples]


def _has(samples: list[tuple[str, dict[str, str], float]], name: str, *, at_least: float = 0,
         **labels: str) -> bool:
    return any(n == name and all(lab.get(k) == v for k, v in labels.items()) and value >= at_least
               for n, lab, value in samples)


# What each role must serve after one turn with a tool call, recall and remember.
EXPECTED = {
    "worker-0": [
        ("somagent_tool_call_duration_seconds_count", {"tool": "calc", "outcome": "ok"}, 1),
        ("somagent_turn_step_duration_seconds_count", {"step": "plan", "outcome": "ok"}, 1),
        ("somagent_turn_step_duration_seconds_count", {"step": "tool", "outcome": "ok"}, 1),
        ("somagent_turn_step_duration_seconds_count", {"step": "recall", "outcome": "ok"}, 1),
        ("somagent_recall_duration_seconds_count", {"outcome": "ok"}, 1),
        ("somagent_remember_duration_seconds_count", {"outcome": "ok"}, 1),
        ("somagent_consumer_lag_records", {"topic": "conversation.events", "partition": "0"}, 0),
        ("process_cpu_seconds_total", {}, 0),
    ],
    "billing-0": [
        ("somagent_billing_usage_records_total", {}, 1),
        ("somagent_consumer_lag_records", {"topic": "billing.usage"}, 0),
    ],
    "projector-0": [
        ("somagent_projector_position", {"projector": "postgres", "topic": "conversation.events"},
         1),
        ("somagent_projector_position", {"projector": "clickhouse"}, 1),
        ("somagent_projector_lag_records", {"projector": "postgres"}, 0),
        ("somagent_projector_events_total", {"projector": "postgres"}, 1),
    ],
    "edge-0": [
        ("somagent_edge_requests_total", {"route": "/v1/turn", "status": "200"}, 1),
        ("somagent_edge_admission_utilisation", {}, 0),
        ("somagent_edge_admission_p_wait", {}, 0),
        ("somagent_edge_turn_duration_seconds_count", {}, 1),
    ],
    "memory-0": [
        ("somagent_memory_requests_total", {}, 1),
        ("somagent_consumer_lag_records", {"topic": "memory.events"}, 0),
    ],
}


def test_each_role_serves_its_series_after_a_turn(platform: Settings) -> None:
    session = new_session(platform)
    turn, names = run_turn(platform, session, "Remember the launch is Friday. "
                                              "What is (1/3 + 1/6) * 3?")
    assert names[-1] == "done" and "tool.delta" in names, names
    urls = _metrics_urls(platform)
    missing: dict[str, list[str]] = {}

    def served() -> bool:
        missing.clear()
        for process, wanted in EXPECTED.items():
            samples = _samples(urls[process])
            for name, labels, at_least in wanted:
                if not _has(samples, name, at_least=at_least, **labels):
                    missing.setdefault(process, []).append(f"{name}{labels}>={at_least}")
        return not missing

    # Lag gauges refresh every 5 s and billing counts usage in its own time.
    until(served, timeout_s=90, what=f"every role's series after turn {turn}: {missing}")


def test_somagent_metrics_aggregates_every_process(platform: Settings) -> None:
    summary = somagent(platform, "metrics", "--json")
    assert summary.returncode == 0, summary.stdout + summary.stderr
    rows = json.loads(summary.stdout)
    assert {"worker-0", "billing-0", "projector-0", "edge-0", "memory-0"} <= set(rows)
    assert all(r["ok"] and r["series"] > 0 for r in rows.values()), rows
    merged = somagent(platform, "metrics")
    assert merged.returncode == 0, merged.stderr
    families = {f.name: f for f in text_string_to_metric_families(merged.stdout)}
    up = {s.labels["process"]: s.value for s in families["somagent_scrape_up"].samples}
    assert set(up) == set(rows) and all(v == 1.0 for v in up.values())
    cpu = {s.labels["process"] for s in families["process_cpu_seconds"].samples}
    assert cpu == set(rows)  # one series per process, told apart by the process label
    targets = platform.home_dir / "targets.json"
    written = somagent(platform, "metrics", "--targets", str(targets))
    assert written.returncode == 0, written.stderr
    assert {t["labels"]["process"] for t in json.loads(targets.read_text())} == set(rows)


def _tag(span: dict[str, Any], key: str) -> Any:
    return next((t["value"] for t in span.get("tags", []) if t["key"] == key), None)


def _trace(jaeger: JaegerPorts, trace_id: str) -> dict[str, Any]:
    r = httpx.get(f"{jaeger.query_url}/api/traces/{trace_id}", timeout=10)
    if r.status_code == 404:
        return {"spans": [], "processes": {}}
    r.raise_for_status()
    data: list[dict[str, Any]] = r.json()["data"] or [{"spans": [], "processes": {}}]
    return data[0]


def test_one_turn_is_one_trace_across_processes_with_parent_links(
    platform: Settings, jaeger: JaegerPorts
) -> None:
    session = new_session(platform)
    trace_id, client_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    turn, names = run_turn(platform, session, "What is (1/3 + 1/6) * 3?",
                           {"traceparent": f"00-{trace_id}-{client_span}-01"})
    assert names[-1] == "done" and "tool.delta" in names, names
    wanted = {"somagent-edge", "somagent-worker", "somagent-projector", "somagent-billing",
              "somagent-memory"}
    got: dict[str, Any] = {}

    def complete() -> bool:
        got.update(_trace(jaeger, trace_id))
        services = {p["serviceName"] for p in got["processes"].values()}
        seen = {(s["operationName"], _tag(s, "somagent.event_type")) for s in got["spans"]}
        return wanted <= services and {
            ("tool calc", None), ("billing usage", None),
            ("projection postgres", "TurnRequested"), ("projection postgres", "TurnCompleted"),
            ("projection clickhouse", "TurnRequested"), ("projection clickhouse", "TurnCompleted"),
        } <= seen

    until(complete, timeout_s=90, what=f"turn {turn}'s spans in jaeger")
    spans = got["spans"]
    service = {pid: p["serviceName"] for pid, p in got["processes"].items()}

    def parent_of(span: dict[str, Any]) -> str | None:
        refs = [r for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
        return refs[0]["spanID"] if refs else None

    def one(op: str, svc: str) -> dict[str, Any]:
        found = [s for s in spans if s["operationName"] == op and service[s["processID"]] == svc]
        assert found, (op, svc, sorted({s["operationName"] for s in spans}))
        return found[0]

    assert all(s["traceID"] == trace_id for s in spans)
    edge = one("POST /v1/turn", "somagent-edge")
    assert parent_of(edge) == client_span  # the client's traceparent is continued
    worker_turn = one("turn", "somagent-worker")
    assert parent_of(worker_turn) == edge["spanID"]  # through TurnRequested's Kafka header
    steps = {s["operationName"]: s for s in spans if s["operationName"].startswith("turn.step")}
    assert {"turn.step recall", "turn.step plan", "turn.step tool"} <= set(steps)
    assert all(parent_of(s) == worker_turn["spanID"] for s in steps.values())
    tool = one("tool calc", "somagent-worker")
    assert parent_of(tool) == steps["turn.step tool"]["spanID"]
    recall = [s for s in spans if s["operationName"].startswith("memory /v1/")]
    assert any(parent_of(s) == steps["turn.step recall"]["spanID"] for s in recall)
    # The Memory Gateway continues the client span it was called from.
    served = [s for s in spans if service[s["processID"]] == "somagent-memory"]
    assert served and {parent_of(s) for s in served} <= {s["spanID"] for s in recall}
    # Projection and billing of the turn's events: children of the spans that wrote them.
    projected = [s for s in spans if service[s["processID"]] == "somagent-projector"]
    ids = {s["spanID"] for s in spans}
    tag = _tag

    # Records the gateway's Faust agent wrote (remember decisions) carry a fresh span id.
    orphans = [s for s in projected if parent_of(s) not in ids]
    assert {tag(s, "messaging.destination.name") for s in orphans} <= {"memory.events"}, [
        (tag(s, "messaging.destination.name"), tag(s, "somagent.event_type")) for s in orphans]
    parents = {parent_of(s) for s in projected}
    assert {edge["spanID"], worker_turn["spanID"]} <= parents
    for event_type, writer in (("TurnRequested", edge), ("TurnCompleted", worker_turn)):
        found = {parent_of(s) for s in projected if tag(s, "somagent.event_type") == event_type}
        assert found == {writer["spanID"]}, (event_type, found)
    billed = [s for s in spans if s["operationName"] == "billing usage"]
    assert billed and {parent_of(s) for s in billed} == {worker_turn["spanID"]}
