"""The event contract on disk: ``schemas/avro/*.avsc`` and its version history.

Each ``.avsc`` holds one named type (record or enum) in namespace ``somagent``; the
``Envelope`` record refers to the others by name. :func:`envelope_schema` inlines
every named type once (Avro's "define before use" rule), giving one self-contained
schema that is what writers publish and fingerprint.

``schemas/avro/history/Envelope.vN.avsc`` keeps every released envelope, expanded,
so the compatibility check can compare the working contract with all of them.
Run ``python -m somagent.events.schemas snapshot`` after changing a schema.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

from somagent.events.exceptions import ContractError

NAMESPACE = "somagent"
ENVELOPE = f"{NAMESPACE}.Envelope"
CONTRACT_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"
HISTORY_DIRNAME = "history"

Schema = dict[str, Any]

_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
_NAMED = frozenset(("record", "enum", "fixed"))
_VERSION = re.compile(r"^Envelope\.v(\d+)\.avsc$")


def _full_name(schema: Schema, default_ns: str = NAMESPACE) -> str:
    name = str(schema["name"])
    if "." in name:
        return name
    return f"{schema.get('namespace', default_ns)}.{name}"


def load_named(directory: Path = CONTRACT_DIR) -> dict[str, Schema]:
    """Every named type in ``directory`` (not its history), by full name.

    Raises:
        ContractError: a file is not JSON, not a named type, or a name repeats.
    """
    named: dict[str, Schema] = {}
    for path in sorted(directory.glob("*.avsc")):
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ContractError(f"{path}: not readable JSON: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("type") not in _NAMED:
            raise ContractError(f"{path}: must hold one record, enum or fixed")
        full = _full_name(raw)
        if full in named:
            raise ContractError(f"{path}: {full} is defined twice")
        if path.stem != full.rsplit(".", 1)[1]:
            raise ContractError(f"{path}: file name must be the record name ({full})")
        named[full] = raw
    return named


def _qualify(ref: str) -> str:
    return ref if "." in ref else f"{NAMESPACE}.{ref}"


def _expand(node: Any, named: dict[str, Schema], defined: set[str], where: str) -> Any:
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return node
        full = _qualify(node)
        if full in defined:
            return full
        if full not in named:
            raise ContractError(f"{where}: refers to unknown type {node!r}")
        return _expand(named[full], named, defined, full)
    if isinstance(node, list):
        return [_expand(branch, named, defined, where) for branch in node]
    if not isinstance(node, dict):
        raise ContractError(f"{where}: unexpected schema node {node!r}")
    out = dict(node)
    kind = node.get("type")
    if kind in _NAMED:
        full = _full_name(node)
        defined.add(full)
        if kind == "record":
            out["fields"] = [
                {**fld, "type": _expand(fld["type"], named, defined, f"{full}.{fld['name']}")}
                for fld in node["fields"]
            ]
    elif kind == "array":
        out["items"] = _expand(node["items"], named, defined, where)
    elif kind == "map":
        out["values"] = _expand(node["values"], named, defined, where)
    elif isinstance(kind, str | list | dict) and kind not in _PRIMITIVES:
        out["type"] = _expand(kind, named, defined, where)
    return out


def expand(name: str, named: dict[str, Schema]) -> Schema:
    """``name`` with every referenced named type inlined at its first use."""
    if name not in named:
        raise ContractError(f"no schema named {name}")
    result = _expand(named[name], named, set(), name)
    assert isinstance(result, dict)
    return result


@cache
def _envelope_cached(directory: Path) -> str:
    return json.dumps(expand(ENVELOPE, load_named(directory)))


def envelope_schema(directory: Path = CONTRACT_DIR) -> Schema:
    """The current envelope, self-contained (a fresh copy each call)."""
    loaded: Schema = json.loads(_envelope_cached(directory.resolve()))
    return loaded


def payload_names(envelope: Schema) -> tuple[str, ...]:
    """Full names of the payload union's records, in union order."""
    for fld in envelope["fields"]:
        if fld["name"] == "payload":
            return tuple(b if isinstance(b, str) else _full_name(b) for b in fld["type"])
    raise ContractError(f"{envelope.get('name')} has no payload field")


def canonical_form(schema: Schema) -> str:
    """The schema's Parsing Canonical Form (Avro specification)."""
    return str(to_parsing_canonical_form(parse_schema(schema, _write_hint=False)))


# CRC-64-AVRO, written from the Avro specification ("Schema Fingerprints").
_EMPTY64 = 0xC15D213AA4D7A795


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc64_avro(data: bytes) -> int:
    """The 64-bit Rabin fingerprint the Avro specification calls CRC-64-AVRO (unsigned)."""
    fp = _EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ _CRC_TABLE[(fp ^ byte) & 0xFF]
    return fp


def fingerprint(schema: Schema) -> bytes:
    """The 8 fingerprint bytes of single-object encoding: CRC-64-AVRO of the
    Parsing Canonical Form, little-endian."""
    return crc64_avro(canonical_form(schema).encode()).to_bytes(8, "little")


# -- history ------------------------------------------------------------------


def history(directory: Path = CONTRACT_DIR) -> list[tuple[int, Schema]]:
    """Every recorded envelope version, oldest first."""
    versions: list[tuple[int, Schema]] = []
    hist = directory / HISTORY_DIRNAME
    for path in hist.glob("Envelope.v*.avsc") if hist.is_dir() else ():
        match = _VERSION.match(path.name)
        if match:
            versions.append((int(match.group(1)), json.loads(path.read_text())))
    return sorted(versions, key=lambda item: item[0])


def snapshot(directory: Path = CONTRACT_DIR) -> Path | None:
    """Record the current envelope as the next history version if it changed at all.

    Any change counts, defaults and docs included: defaults decide how readers fill
    missing fields. Returns the file written, or None when nothing changed.
    """
    current = expand(ENVELOPE, load_named(directory))
    versions = history(directory)
    if versions and versions[-1][1] == current:
        return None
    number = versions[-1][0] + 1 if versions else 1
    path = directory / HISTORY_DIRNAME / f"Envelope.v{number}.avsc"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m somagent.events.schemas snapshot|fingerprint``."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["snapshot"]:
        written = snapshot()
        print(written or "history already records the current envelope")
        return 0
    if args == ["fingerprint"]:
        print(fingerprint(envelope_schema()).hex())
        return 0
    print("usage: python -m somagent.events.schemas snapshot|fingerprint", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
