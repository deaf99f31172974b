"""The contract in schemas/avro/: shape rules the issue sets, fingerprints per the spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastavro import parse_schema
from fastavro.schema import fingerprint as fastavro_fingerprint

from somagent.events import catalog, schemas

# CRC-64-AVRO vectors published with the Avro specification
# (share/test/data/schema-tests.txt), as signed 64-bit integers.
SPEC_VECTORS = [
    ('"null"', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('"int"', 8247732601305521295),
    ('"long"', -3434872931120570953),
    ('"double"', -8181574048448539266),
    ('"string"', -8142146995180207161),
    ('["int","boolean"]', 5392556393470105090),
    ('{"name":"foo","type":"fixed","size":15}', 1756455273707447556),
    ('{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    (
        '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}',
        7843277075252814651,
    ),
]

ISSUE_TYPES = {
    "SessionMinted", "SessionExpired",
    "TurnRequested", "TurnRecalled", "TurnPlanned", "ToolCallRequested", "ToolCallDelta",
    "ToolCallCompleted", "ToolCallFailed", "TurnVerified", "TurnAnswered", "TurnFailed",
    "TurnCompleted", "TurnCancelRequested",
    "MemoryRememberRequested", "MemoryRemembered", "MemoryRememberRejected",
    "CapsuleUploaded", "CapsuleRevoked",
    "UsageRecorded", "UsageWindowClosed",
    "GatewayRequestAudited", "PolicyDenied",
    "JobSubmitted", "JobStepStarted", "JobStepCompleted", "JobStepFailed",
    "JobApprovalRequested", "JobApprovalGiven", "JobCompensated", "JobCompleted", "JobFailed",
    "JobCancelled",
    # issue 15: the marketplace and capsule reads
    "AgentPublished", "AgentUpdated", "AgentInstalled", "AgentUninstalled", "AgentRevoked",
    "CapsuleRecalled",
    "BrainFeedbackGiven", "BrainWeightsUpdated",
    # issue 16: erasure (crypto-shredding)
    "TenantDataErased",
    # issue 16: the constitution
    "PolicyRegistered", "PolicySigned", "PolicyActivated", "PolicyRevoked",
    "PolicyDecisionLogged",
}  # fmt: skip


_COUNTED_SUFFIXES = ("_cents", "_picocents", "_bytes", "_ms", "_us")
_COUNTED_NAMES = ("tokens", "tool_calls", "tokens_in", "tokens_out", "token_budget", "seq")


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = [(path, node)]
    if isinstance(node, list):
        for b in node:
            found += _walk(b, path)
    elif isinstance(node, dict):
        for f in node.get("fields", ()):
            found += _walk(f["type"], f"{path}.{f['name']}")
        for key in ("items", "values"):
            if key in node:
                found += _walk(node[key], path)
        if isinstance(node.get("type"), dict | list):
            found += _walk(node["type"], path)
    return found


@pytest.mark.parametrize(("text", "signed"), SPEC_VECTORS)
def test_crc64_matches_the_specification_vectors(text: str, signed: int) -> None:
    assert schemas.crc64_avro(text.encode()) == signed % 2**64


@pytest.mark.parametrize(("text", "signed"), SPEC_VECTORS)
def test_canonical_form_of_spec_vectors_is_already_canonical(text: str, signed: int) -> None:
    assert schemas.canonical_form(json.loads(text)) == text


def test_fingerprint_matches_fastavro_and_is_little_endian() -> None:
    envelope = schemas.envelope_schema()
    mine = schemas.fingerprint(envelope)
    assert len(mine) == 8
    assert mine.hex() == fastavro_fingerprint(schemas.canonical_form(envelope), "CRC-64-AVRO")
    value = schemas.crc64_avro(schemas.canonical_form(envelope).encode())
    assert mine == value.to_bytes(8, "little")


def test_payload_union_holds_exactly_the_issue_types() -> None:
    names = {n.rsplit(".", 1)[1] for n in schemas.payload_names(schemas.envelope_schema())}
    assert names == ISSUE_TYPES


def test_every_file_is_one_named_type_in_the_somagent_namespace() -> None:
    named = schemas.load_named()
    assert len(named) == len(list(schemas.CONTRACT_DIR.glob("*.avsc")))
    for full, raw in named.items():
        assert full.startswith("somagent."), full
        assert raw.get("doc"), f"{full} needs a doc"
        for fld in raw.get("fields", ()):
            assert fld.get("doc"), f"{full}.{fld['name']} needs a doc"


def test_envelope_fields_and_types() -> None:
    env = schemas.envelope_schema()
    fields = {f["name"]: f["type"] for f in env["fields"]}
    assert list(fields) == [
        "event_id", "type", "ts", "tenant", "session", "turn", "trace_id", "seq", "producer",
        "payload",
    ]  # fmt: skip
    uuid = {"type": "string", "logicalType": "uuid"}
    assert fields["event_id"] == uuid and fields["tenant"] == uuid
    assert fields["session"] == ["null", uuid] and fields["turn"] == ["null", uuid]
    assert fields["ts"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert fields["seq"] == "long"


def test_no_floats_money_in_integer_cents_counts_are_longs() -> None:
    for path, node in _walk(schemas.envelope_schema()):
        kind = (
            node if isinstance(node, str) else node.get("type") if isinstance(node, dict) else None
        )
        assert kind not in ("float", "double"), f"{path} is a float"
        leaf = path.rsplit(".", 1)[-1]
        counted = leaf.endswith(_COUNTED_SUFFIXES) or leaf in _COUNTED_NAMES
        if counted and isinstance(node, str):
            assert node == "long", f"{path} must be long, is {node}"


def test_every_payload_type_has_a_topic() -> None:
    for name in schemas.payload_names(schemas.envelope_schema()):
        assert catalog.topic_for(name.rsplit(".", 1)[1]) in {t.name for t in catalog.TOPICS}


def test_envelope_parses_with_fastavro() -> None:
    parse_schema(schemas.envelope_schema())
