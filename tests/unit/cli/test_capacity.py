"""`somagent capacity` prints the Erlang-C sizing and routing state as JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from somagent.cli import app


def test_capacity_prints_servers_and_routing() -> None:
    result = CliRunner().invoke(app, ["capacity", "--arrival-rate", "30", "--service-rate", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["servers"] == 22  # least k with ρ ≤ 0.7 and P95 wait ≤ 0.5 s
    assert report["metrics"]["utilisation"] <= 0.7
    assert report["routing"]["source"] == "ingress"


def test_capacity_rejects_negative_rate() -> None:
    result = CliRunner().invoke(app, ["capacity", "--arrival-rate", "-1"])
    assert result.exit_code == 2
    assert "arrival_rate must be >= 0" in result.output
