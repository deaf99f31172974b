"""The capacity report: JSON-able, consistent with the routines it combines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from somagent.math.capacity import DEFAULT_GRAPH_SPEC, capacity_report
from somagent.math.queueing import mmk_metrics


def test_report_is_json_and_consistent() -> None:
    report = capacity_report(50.0, 2.0, 0.5, 0.7)
    assert json.loads(json.dumps(report)) == report
    k = report["servers"]
    assert report["metrics"]["utilisation"] <= 0.7
    assert report["metrics"]["wait_p95_s"] <= 0.5
    assert mmk_metrics(50.0, 2.0, k).to_dict() == report["metrics"]
    assert report["admission"]["admit"] is True
    routing = report["routing"]
    assert routing["potentials"]["egress"] == 0.0
    assert routing["kirchhoff_max_residual"] <= 1e-9 * 50
    out_of_source = sum(e["flow_per_s"] for e in routing["edges"] if e["from"] == routing["source"])
    assert out_of_source == pytest.approx(50.0)
    cond = report["conductance"]
    assert len(cond["updated"]) == len(DEFAULT_GRAPH_SPEC["edges"])
    first = routing["edges"][0]
    expected = (1 - cond["beta"] * cond["dt_s"]) * first["conductance"] + cond["alpha"] * cond[
        "dt_s"
    ] * abs(first["flow_per_s"])
    assert cond["updated"][0] == pytest.approx(expected)
    assert cond["steady_state"][0] == pytest.approx(
        cond["alpha"] * abs(first["flow_per_s"]) / cond["beta"]
    )


def test_zero_demand_and_custom_graph() -> None:
    spec: dict[str, Any] = {
        "nodes": ["in", "w1", "w2", "out"],
        "edges": [["in", "w1", 1.0], ["in", "w2", 3.0], ["w1", "out", 1.0], ["w2", "out", 3.0]],
        "source": "in",
        "sink": "out",
        "conductance": {"beta": 0.0},
    }
    report = capacity_report(0.0, 1.0, 1.0, 0.5, spec)
    assert report["servers"] == 1
    assert report["conductance"]["steady_state"] is None
    assert all(e["flow_per_s"] == 0.0 for e in report["routing"]["edges"])
    # Parallel paths of conductance 1/2 and 3/2: effective resistance 1/2.
    assert report["routing"]["effective_resistance"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"nodes": ["a"], "edges": [], "source": "a", "sink": "a"}, "nodes"),
        ({"nodes": ["a", "b"], "edges": [["a", "c", 1.0]], "source": "a", "sink": "b"}, "unknown"),
        ({"nodes": ["a", "b"], "edges": [["a", "b", 1.0]], "source": "x", "sink": "b"}, "source"),
        (
            {"nodes": ["a", "b", "c"], "edges": [["a", "b", 1.0]], "source": "a", "sink": "b"},
            "disconnected",
        ),
        (
            {
                "nodes": ["a", "b"],
                "edges": [["a", "b", 1.0]],
                "source": "a",
                "sink": "b",
                "conductance": {"gamma": 1},
            },
            "unknown keys",
        ),
    ],
)
def test_invalid_specs_are_rejected(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        capacity_report(1.0, 1.0, 1.0, 0.7, spec)


def test_invalid_rates_are_rejected() -> None:
    with pytest.raises(ValueError, match="arrival_rate"):
        capacity_report(-1.0, 1.0, 1.0)
