"""JSON Schema (Draft 2020-12) validation with messages a user can act on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from somagent.tools.exceptions import ToolSpecError

MAX_ERRORS = 5


def check_schema(schema: Mapping[str, Any], where: str) -> None:
    """Raise :class:`ToolSpecError` naming ``where`` if ``schema`` is not a valid schema."""
    try:
        Draft202012Validator.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        raise ToolSpecError(f"{where} is not a valid Draft 2020-12 schema: {exc.message}") from exc


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(
        json.loads(schema_json), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _key(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True)


def errors(schema: Mapping[str, Any], instance: Any, what: str = "value") -> list[str]:
    """Every problem of ``instance`` against ``schema`` (at most :data:`MAX_ERRORS`),
    as ``"<what> <json path>: <message>"``, ordered by path; empty when valid."""
    found = sorted(
        _validator(_key(schema)).iter_errors(instance), key=lambda e: [str(p) for p in e.path]
    )
    out = []
    for err in found[:MAX_ERRORS]:
        path = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{what} {'/' + path if path else '(root)'}: {err.message}")
    if len(found) > MAX_ERRORS:
        out.append(f"... and {len(found) - MAX_ERRORS} more")
    return out


def is_valid(schema: Mapping[str, Any], instance: Any) -> bool:
    return _validator(_key(schema)).is_valid(instance)
