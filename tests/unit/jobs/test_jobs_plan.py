"""Roadmap → job spec: the deterministic planner on a roadmap in the seed's format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from somagent.jobs.exceptions import InvalidRoadmap
from somagent.jobs.plan import plan_text
from somagent.jobs.roadmap import duration_days, parse_roadmap
from somagent.jobs.validate import check_spec

ROADMAP = (Path(__file__).parent / "ROADMAP.md").read_text()


def test_the_roadmap_parses_into_phases_sprints_items() -> None:
    roadmap = parse_roadmap(ROADMAP)
    assert roadmap.title == "SomaGent Stream"
    assert [p.title for p in roadmap.phases] == [
        "Foundations", "Multi-agent orchestration", "Launch"]
    assert [p.duration_days for p in roadmap.phases] == [28.0, 42.0, 14.0]
    first = roadmap.phases[0].sprints[0]
    assert (first.number, first.title, first.duration_days) == ("1", "Event backbone", 14.0)
    assert first.focus == "platform, data"
    assert first.items == ["Kafka topics and the Avro contract",
                           "Postgres projections with replay",
                           "ClickHouse analytics over every event"]
    assert roadmap.phases[1].sprints[1].focus == "ecosystem"
    launch = roadmap.phases[2].sprints
    assert len(launch) == 1 and launch[0].focus == "everyone" and len(launch[0].items) == 2
    assert roadmap.items == 11


def test_plan_has_one_step_per_item_sprint_order_and_phase_gates() -> None:
    doc = plan_text(ROADMAP)
    spec = check_spec(doc)  # a valid job: no cycle, no unknown step
    kinds = [s.kind for s in spec.steps]
    assert kinds.count("turn") == 11 and kinds.count("approval") == 3
    by = {s.name: s for s in spec.steps}
    sprint1 = [n for n in by if n.startswith("p1-s1-")]
    sprint2 = [n for n in by if n.startswith("p1-s2-")]
    assert len(sprint1) == 3 and all(not by[n].depends_on for n in sprint1)
    assert all(set(by[n].depends_on) == set(sprint1) for n in sprint2)
    assert set(by["gate-p1"].depends_on) == set(sprint2)
    assert all(by[n].depends_on == ("gate-p1",) for n in by if n.startswith("p2-s3-"))
    assert by["gate-p3"].depends_on == ("p3-s0-01-load-tests-at-16-concurrent-jobs",
                                        "p3-s0-02-security-review")
    text = by["p1-s2-02-tool-broker-with-idempotency-keys"].action.text  # type: ignore[union-attr]
    assert text.startswith("Tool broker with idempotency keys\n\n")
    assert "Sprint 2: Turn engine (14 days)" in text and "Team focus: agents." in text


def test_plan_is_deterministic_and_takes_options() -> None:
    a = json.dumps(plan_text(ROADMAP), sort_keys=True)
    assert a == json.dumps(plan_text(ROADMAP), sort_keys=True)
    doc = plan_text(ROADMAP, tools=["calc"], approval_timeout_s=60)
    assert doc["steps"][0]["turn"]["allow"] == {"tools": ["calc"]}
    assert [s["approval"]["timeout_s"] for s in doc["steps"] if "approval" in s] == [60] * 3


def test_bad_roadmaps_name_the_problem() -> None:
    with pytest.raises(InvalidRoadmap, match="no phase"):
        parse_roadmap("# Plan\n\nJust words.\n")
    with pytest.raises(InvalidRoadmap, match="line 2: item 'early' is before any phase"):
        parse_roadmap("# Plan\n- early\n## Phase 1 (1 week)\n- later\n")
    with pytest.raises(InvalidRoadmap, match="no items"):
        parse_roadmap("## Phase 1 (2 weeks)\n### Sprint 1\nTeam focus: x\n")


def test_durations() -> None:
    assert duration_days("3 weeks") == 21 and duration_days("10 days") == 10
    assert duration_days("2 months") == 60 and duration_days("soon") is None
