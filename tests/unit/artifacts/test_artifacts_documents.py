"""Capsule and agent-manifest formats, SBOMs, job templates and the projection fold."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from somagent.artifacts import projection
from somagent.artifacts.documents import capsule_of, manifest_of
from somagent.artifacts.exceptions import InvalidArtifact
from somagent.artifacts.publisher import agent_manifest
from somagent.artifacts.sbom import sbom_for, validate_sbom
from somagent.events.examples import example_events


def _capsule(**changes: Any) -> dict[str, Any]:
    doc = {"kind": "capsule", "id": "fin", "version": "1.0.0", "name": "F",
           "memory_blocks": [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]}
    return {**doc, **changes}


def _agent(**changes: Any) -> dict[str, Any]:
    doc = agent_manifest("bot", "1.0.0", name="Bot", persona="p", policy={"k": 1},
                         tools=["calc"], dependencies=[("numpy", "2.0.0")],
                         jobs=[{"name": "j", "steps": [{"name": "s1", "kind": "turn"}]}])
    return {**doc, **changes}


def test_a_capsule_and_its_refusals() -> None:
    assert capsule_of(_capsule()).blocks[1]["text"] == "y"
    for bad in (_capsule(memory_blocks=[]), _capsule(version="1.0"), _capsule(id="Bad Id"),
                _capsule(extra=1), _capsule(memory_blocks=[{"id": "a", "text": "x"}] * 2)):
        with pytest.raises(InvalidArtifact):
            capsule_of(bad)


def test_schema_errors_name_json_pointers() -> None:
    with pytest.raises(InvalidArtifact) as caught:
        capsule_of(_capsule(memory_blocks=[{"id": "a", "text": ""}]))
    assert caught.value.errors[0]["pointer"] == "/memory_blocks/0/text"


def test_an_agent_manifest_checks_hashes_jobs_and_sbom() -> None:
    manifest = manifest_of(_agent())
    assert manifest.sbom_components == 1 and manifest.sla_ms == 10_000
    cycle = [{"name": "j", "steps": [{"name": "a", "kind": "turn", "depends_on": ["b"]},
                                     {"name": "b", "kind": "turn", "depends_on": ["a"]}]}]
    for bad, message in ((_agent(persona="changed"), "persona_hash"),
                         (_agent(policy={"k": 2}), "policy_hash"),
                         (_agent(jobs=cycle), "cycle"),
                         (_agent(sbom={"bomFormat": "SPDX"}), "CycloneDX"),
                         (_agent(sbom={**sbom_for([]), "components": [{"name": 1}]}),
                          "not valid CycloneDX")):
        with pytest.raises(InvalidArtifact) as caught:
            manifest_of(bad)
        assert message in str(caught.value)


def test_sbom_lists_purls() -> None:
    sbom = sbom_for([("numpy", "2.0.0"), ("PyYAML", "6.0.3")])
    assert validate_sbom(sbom) == 2
    assert {c["purl"] for c in sbom["components"]} == {"pkg:pypi/numpy@2.0.0",
                                                       "pkg:pypi/pyyaml@6.0.3"}


def test_the_fold_guards_every_change_with_the_artifact_counter() -> None:
    tables = projection.table_names("_replay")
    events = {e["type"]: e for e in example_events()}
    installed = projection.statements(events["AgentInstalled"], tables)
    assert "agent_installs_replay" in installed[0][0] and "i.last_seq <" in installed[0][0]
    published = projection.statements(events["AgentPublished"], tables)
    assert "ON CONFLICT (kind, artifact_id, version) DO NOTHING" in published[0][0]
    assert published[0][1][2] == "1.1.0" and str(published[0][1][-1]) == events[
        "AgentPublished"]["event_id"]
    holder = {**events["CapsuleRevoked"], "tenant": uuid.uuid4()}
    assert projection.statements(holder, tables) == []  # a holder's copy changes only memory
    assert projection.statements(events["CapsuleRevoked"], tables)
    legacy = {**events["CapsuleUploaded"], "payload": {**events["CapsuleUploaded"]["payload"],
                                                        "version": ""}}
    assert projection.statements(legacy, tables) == []
