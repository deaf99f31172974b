"""The aggregated view's pure parts: merging expositions, targets, file_sd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from somagent.telemetry.aggregate import Scrape, Target, file_sd_targets, merge, summary, targets
from somagent.telemetry.exceptions import TelemetryError

WORKER = """# HELP somagent_tool_call_duration_seconds One tool call
# TYPE somagent_tool_call_duration_seconds histogram
somagent_tool_call_duration_seconds_bucket{le="0.5",outcome="ok",tool="calc"} 1.0
somagent_tool_call_duration_seconds_bucket{le="+Inf",outcome="ok",tool="calc"} 1.0
somagent_tool_call_duration_seconds_count{outcome="ok",tool="calc"} 1.0
somagent_tool_call_duration_seconds_sum{outcome="ok",tool="calc"} 0.25
# HELP somagent_consumer_lag_records lag
# TYPE somagent_consumer_lag_records gauge
somagent_consumer_lag_records{group="g",partition="0",topic="t"} 3.0
"""
BILLING = """# HELP somagent_consumer_lag_records lag
# TYPE somagent_consumer_lag_records gauge
somagent_consumer_lag_records{group="b",partition="1",topic="u"} 0.0
# HELP process_cpu_seconds_total CPU
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
"""


def _t(name: str, role: str) -> Target:
    return Target(name, role, f"http://127.0.0.1:1/{name}/metrics")


def test_merge_labels_every_sample_with_its_process_and_reports_the_silent() -> None:
    text = merge([Scrape(_t("worker-0", "worker"), WORKER),
                  Scrape(_t("billing-0", "billing"), BILLING),
                  Scrape(_t("edge-0", "edge"), "", "ConnectError: refused")])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    lag = families["somagent_consumer_lag_records"]
    assert {(s.labels["process"], s.labels["group"], s.value) for s in lag.samples} == {
        ("worker-0", "g", 3.0), ("billing-0", "b", 0.0)}
    assert text.count("# TYPE somagent_consumer_lag_records gauge") == 1
    hist = families["somagent_tool_call_duration_seconds"]
    assert hist.type == "histogram"
    assert {s.labels["role"] for s in hist.samples} == {"worker"}
    cpu = families["process_cpu_seconds"]
    assert cpu.type == "counter"
    assert [(s.name, s.labels["process"], s.value) for s in cpu.samples] == [
        ("process_cpu_seconds_total", "billing-0", 1.5)]
    up = {s.labels["process"]: s.value for s in families["somagent_scrape_up"].samples}
    assert up == {"worker-0": 1.0, "billing-0": 1.0, "edge-0": 0.0}


def test_label_values_are_escaped() -> None:
    odd = '# TYPE x gauge\nx{v="a\\"b\\\\c\\nd"} 1.0\n'
    text = merge([Scrape(_t("p", "r"), odd)])
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "x"]
    assert family.samples[0].labels["v"] == 'a"b\\c\nd'


def test_summary_counts_series_and_keeps_errors() -> None:
    got = summary([Scrape(_t("worker-0", "worker"), WORKER),
                   Scrape(_t("edge-0", "edge"), "", "boom")])
    assert got["worker-0"]["series"] == 5 and got["worker-0"]["ok"]
    assert got["edge-0"] == {"role": "edge", "metrics_url": _t("edge-0", "edge").metrics_url,
                             "ok": False, "error": "boom", "series": 0}


def test_targets_come_from_platform_json(tmp_path: Path) -> None:
    state = tmp_path / "platform.json"
    with pytest.raises(TelemetryError, match="is the platform up"):
        targets(state)
    state.write_text(json.dumps({"instances": [
        {"name": "worker-1", "role": "worker", "health_url": "http://127.0.0.1:4242/healthz"}]}))
    found = targets(state)
    assert found == [Target("worker-1", "worker", "http://127.0.0.1:4242/metrics")]
    assert file_sd_targets(found) == [
        {"targets": ["127.0.0.1:4242"], "labels": {"process": "worker-1", "role": "worker"}}]
    state.write_text("{not json")
    with pytest.raises(TelemetryError, match="not JSON"):
        targets(state)
