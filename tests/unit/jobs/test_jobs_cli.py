"""``somagent jobs plan ROADMAP.md`` prints a valid job spec; a bad roadmap is one error line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from somagent.cli import app
from somagent.jobs.validate import check_spec

ROADMAP = Path(__file__).parent / "ROADMAP.md"


def test_plan_prints_the_spec() -> None:
    result = CliRunner().invoke(app, ["jobs", "plan", str(ROADMAP), "--tool", "calc"])
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    check_spec(spec)
    assert len(spec["steps"]) == 14
    assert spec["steps"][0]["turn"]["allow"] == {"tools": ["calc"]}


def test_a_roadmap_without_phases_fails_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.md"
    bad.write_text("# Notes\n\n- just a list\n")
    result = CliRunner().invoke(app, ["jobs", "plan", str(bad)])
    assert result.exit_code == 1
    assert "item 'just a list' is before any phase" in result.output
