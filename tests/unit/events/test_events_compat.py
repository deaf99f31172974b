"""The compatibility checker over Avro resolution rules, and the contract history."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from somagent.events import compat, schemas


def rec(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "somagent", "fields": list(fields)}


def fld(name: str, type_: Any, **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **kw}


V1 = rec("Thing", fld("id", "string"), fld("count", "int"), fld("note", "string", default=""))


def kinds(problems: list[compat.Problem]) -> set[str]:
    return {p.kind for p in problems}


def test_identical_schemas_are_compatible() -> None:
    assert compat.can_read(V1, V1) == []
    assert compat.full_problems(V1, V1) == []


def test_added_field_with_default_is_full_compatible() -> None:
    v2 = copy.deepcopy(V1)
    v2["fields"].append(fld("extra", "long", default=0))
    assert compat.full_problems(v2, V1) == []


def test_added_field_without_default_breaks_new_reading_old() -> None:
    v2 = copy.deepcopy(V1)
    v2["fields"].append(fld("extra", "long"))
    problems = compat.can_read(v2, V1)
    assert kinds(problems) == {"missing-field"}
    assert problems[0].path == "Thing.extra"


def test_removed_field_without_default_is_caught() -> None:
    v2 = rec("Thing", fld("id", "string"), fld("note", "string", default=""))
    assert compat.can_read(v2, V1) == []  # new reader skips the old field
    problems = compat.can_read(V1, v2)  # old reader needs it and has no default
    assert [(p.path, p.kind) for p in problems] == [("Thing.count", "missing-field")]
    assert compat.full_problems(v2, V1)


def test_removed_field_with_default_is_fine() -> None:
    v2 = rec("Thing", fld("id", "string"), fld("count", "int"))
    assert compat.full_problems(v2, V1) == []


def test_type_change_is_caught() -> None:
    v2 = rec(
        "Thing", fld("id", "string"), fld("count", "string"), fld("note", "string", default="")
    )
    problems = compat.full_problems(v2, V1)
    assert any("Thing.count: type-mismatch" in p for p in problems)


def test_promotion_is_one_way() -> None:
    widened = rec(
        "Thing", fld("id", "string"), fld("count", "long"), fld("note", "string", default="")
    )
    assert compat.can_read(widened, V1) == []  # int written, long read: promotion
    assert kinds(compat.can_read(V1, widened)) == {"type-mismatch"}


def test_enum_symbols() -> None:
    e1 = rec("E", fld("m", {"type": "enum", "name": "Mode", "symbols": ["a", "b"]}))
    e2 = rec("E", fld("m", {"type": "enum", "name": "Mode", "symbols": ["a", "b", "c"]}))
    assert compat.can_read(e2, e1) == []
    assert kinds(compat.can_read(e1, e2)) == {"missing-symbol"}
    e1d = rec(
        "E", fld("m", {"type": "enum", "name": "Mode", "symbols": ["a", "b"], "default": "a"})
    )
    assert compat.can_read(e1d, e2) == []


def test_nullable_change() -> None:
    plain_ = rec("N", fld("x", "string"))
    nullable = rec("N", fld("x", ["null", "string"], default=None))
    assert compat.can_read(nullable, plain_) == []
    assert kinds(compat.can_read(plain_, nullable)) == {"missing-union-branch"}


def test_logical_type_change_is_reported() -> None:
    a = rec("L", fld("id", {"type": "string", "logicalType": "uuid"}))
    b = rec("L", fld("id", "string"))
    assert kinds(compat.can_read(a, b)) == {"logical-type"}


def test_renamed_record_and_alias() -> None:
    renamed = copy.deepcopy(V1)
    renamed["name"] = "Gadget"
    assert kinds(compat.can_read(renamed, V1)) == {"type-mismatch"}
    renamed["aliases"] = ["Thing"]
    assert compat.can_read(renamed, V1) == []


def test_nested_records_arrays_maps() -> None:
    inner1 = {"type": "record", "name": "Inner", "fields": [fld("a", "int")]}
    inner2 = {"type": "record", "name": "Inner", "fields": [fld("a", "int"), fld("b", "int")]}
    o1 = rec(
        "O",
        fld("xs", {"type": "array", "items": inner1}),
        fld("m", {"type": "map", "values": "int"}),
    )
    o2 = rec(
        "O",
        fld("xs", {"type": "array", "items": inner2}),
        fld("m", {"type": "map", "values": "string"}),
    )
    paths = {p.path for p in compat.can_read(o2, o1)}
    assert paths == {"O.xs[].b", "O.m{}"}


def test_new_event_type_is_allowed_only_in_the_payload_union() -> None:
    env = schemas.envelope_schema()
    newer = copy.deepcopy(env)
    newer["fields"][-1]["type"].append(rec("TurnPaused", fld("why", "string")))
    assert compat.full_problems(newer, env) == []
    assert compat.full_problems(newer, env, allow_new_event_types=False)
    # Removing an event type is not allowed: new readers could not read old events.
    fewer = copy.deepcopy(env)
    fewer["fields"][-1]["type"] = fewer["fields"][-1]["type"][:-1]
    assert any("missing-union-branch" in p for p in compat.full_problems(fewer, env))


def test_the_working_contract_is_compatible_with_its_whole_history() -> None:
    assert schemas.history(), "schemas/avro/history must hold at least v1"
    assert compat.check_history() == []


@pytest.fixture()
def contract(tmp_path: Path) -> Path:
    """A copy of the real contract (with its history) to break on purpose."""
    target = tmp_path / "avro"
    shutil.copytree(schemas.CONTRACT_DIR, target)
    return target


def _edit(contract: Path, name: str, change: Any) -> None:
    path = contract / f"{name}.avsc"
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))


def test_history_check_catches_a_removed_field_without_default(contract: Path) -> None:
    _edit(contract, "TurnRequested", lambda r: r["fields"].pop(2))  # "text", no default
    versions = len(list((contract / "history").glob("Envelope.v*.avsc")))
    assert schemas.snapshot(contract) == contract / "history" / f"Envelope.v{versions + 1}.avsc"
    problems = compat.check_history(contract)
    assert any("TurnRequested>.text: missing-field" in p for p in problems), problems


def test_history_check_catches_a_type_change(contract: Path) -> None:
    def change(r: dict[str, Any]) -> None:
        r["fields"][0]["type"] = "int"  # TurnCompleted.duration_ms: long -> int

    _edit(contract, "TurnCompleted", change)
    schemas.snapshot(contract)
    problems = compat.check_history(contract)
    assert any("TurnCompleted>.duration_ms: type-mismatch" in p for p in problems), problems


def test_history_check_accepts_an_added_field_with_default(contract: Path) -> None:
    _edit(contract, "TurnCompleted", lambda r: r["fields"].append(fld("retries", "int", default=0)))
    assert compat.check_history(contract) != []  # not yet recorded in history
    assert schemas.snapshot(contract) is not None
    assert schemas.snapshot(contract) is None  # idempotent
    assert compat.check_history(contract) == []
