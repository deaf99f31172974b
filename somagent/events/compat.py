"""Schema compatibility under Avro's resolution rules, and the contract-history check.

:func:`can_read` answers "can a reader with schema R read data written with W?"
following the Avro specification's "Schema Resolution" section:

* primitives match or promote (int→long/float/double, long→float/double,
  float→double, string↔bytes);
* records match by name (or reader alias); every reader field missing from the
  writer needs a default; writer fields missing from the reader are skipped;
* enums match by name; writer symbols unknown to the reader need a reader default;
* fixed match by name and size; arrays and maps by items/values;
* a writer union needs every branch readable; a reader union needs a matching branch.

On top of Avro, the contract is stricter in one way: a changed ``logicalType``
(e.g. a ``uuid`` string becoming a plain string) is reported, because readers
would receive a different Python type.

The contract requires FULL compatibility between the working schemas and every
recorded version, with one allowance: a *new event type* (a new branch of the
envelope's payload union) is fine for old readers — they reject only events of
that type, as ``unknown-event-type``, into the dead-letter topic.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from somagent.events import schemas

_PROMOTIONS = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}
_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
_NAMED = frozenset(("record", "enum", "fixed"))

PAYLOAD_PATH = "Envelope.payload"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a reader cannot read a writer; ``path`` is dotted from the root."""

    path: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}: {self.detail}"


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class _Names:
    """Named types of one self-contained schema, by full name."""

    def __init__(self, root: Any) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self._collect(root, schemas.NAMESPACE)

    def _collect(self, node: Any, ns: str) -> None:
        if isinstance(node, list):
            for branch in node:
                self._collect(branch, ns)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in _NAMED:
                full = self.full(node, ns)
                self.types[full] = node
                ns = full.rsplit(".", 1)[0] if "." in full else ns
                for fld in node.get("fields", ()):
                    self._collect(fld["type"], ns)
            elif kind == "array":
                self._collect(node["items"], ns)
            elif kind == "map":
                self._collect(node["values"], ns)
            elif isinstance(kind, dict | list):
                self._collect(kind, ns)

    @staticmethod
    def full(node: dict[str, Any], ns: str) -> str:
        name = str(node["name"])
        if "." in name:
            return name
        return f"{node.get('namespace', ns)}.{name}"

    def resolve(self, node: Any) -> Any:
        """Follow name references; wrap primitives as ``{"type": p}``."""
        if isinstance(node, str):
            if node in _PRIMITIVES:
                return {"type": node}
            for candidate in (node, f"{schemas.NAMESPACE}.{node}"):
                if candidate in self.types:
                    return self.types[candidate]
            raise KeyError(f"unknown type name {node!r}")
        if isinstance(node, list):
            return node
        inner = node["type"]
        if isinstance(inner, str) and inner in _PRIMITIVES | _NAMED | {"array", "map"}:
            return node
        return self.resolve(inner)


def _kind(node: Any) -> str:
    if isinstance(node, list):
        return "union"
    return str(node["type"])


def _name(node: dict[str, Any]) -> str:
    return _short(str(node["name"]))


class _Checker:
    def __init__(self, reader: Any, writer: Any) -> None:
        self.rn = _Names(reader)
        self.wn = _Names(writer)
        self.problems: list[Problem] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, path: str, kind: str, detail: str) -> None:
        self.problems.append(Problem(path, kind, detail))

    def matches(self, r: Any, w: Any) -> bool:
        """Avro's "match" used to pick a reader union branch (no recursion)."""
        rk, wk = _kind(r), _kind(w)
        if rk in _NAMED or wk in _NAMED:
            reader_names = (
                {_name(r), *(_short(a) for a in r.get("aliases", ()))} if rk in _NAMED else set()
            )
            return rk == wk and _name(w) in reader_names
        return rk == wk or (wk, rk) in _PROMOTIONS

    def check(self, r_node: Any, w_node: Any, path: str) -> None:
        r, w = self.rn.resolve(r_node), self.wn.resolve(w_node)
        rk, wk = _kind(r), _kind(w)
        if wk == "union":
            self._writer_union(r, w, path)
            return
        if rk == "union":
            branch = next((b for b in r if self.matches(self.rn.resolve(b), w)), None)
            if branch is None:
                self.add(path, "type-mismatch", f"reader union has no branch for writer {wk}")
                return
            self.check(branch, w, path)
            return
        if not self.matches(r, w):
            shown_w = _name(w) if wk in _NAMED else wk
            shown_r = _name(r) if rk in _NAMED else rk
            self.add(path, "type-mismatch", f"writer {shown_w} cannot be read as {shown_r}")
            return
        self._logical(r, w, path)
        if rk == "record":
            self._record(r, w, path)
        elif rk == "enum":
            self._enum(r, w, path)
        elif rk == "fixed" and r.get("size") != w.get("size"):
            self.add(path, "fixed-size", f"size {w.get('size')} read as {r.get('size')}")
        elif rk == "array":
            self.check(r["items"], w["items"], f"{path}[]")
        elif rk == "map":
            self.check(r["values"], w["values"], f"{path}{{}}")

    def _writer_union(self, r: Any, w: list[Any], path: str) -> None:
        r_branches = r if isinstance(r, list) else [r]
        for wb_node in w:
            wb = self.wn.resolve(wb_node)
            label = _name(wb) if _kind(wb) in _NAMED else _kind(wb)
            match = next((b for b in r_branches if self.matches(self.rn.resolve(b), wb)), None)
            if match is None:
                self.add(path, "missing-union-branch", f"reader cannot read writer branch {label}")
            else:
                self.check(match, wb, f"{path}<{label}>" if len(w) > 2 else path)

    def _logical(self, r: dict[str, Any], w: dict[str, Any], path: str) -> None:
        if r.get("logicalType") != w.get("logicalType"):
            self.add(
                path,
                "logical-type",
                f"logical type {w.get('logicalType')} read as {r.get('logicalType')}",
            )

    def _record(self, r: dict[str, Any], w: dict[str, Any], path: str) -> None:
        pair = (_name(r), _name(w))
        if pair in self._seen:  # recursive types: the pair is already being checked
            return
        self._seen.add(pair)
        w_fields = {f["name"]: f for f in w["fields"]}
        for rf in r["fields"]:
            names = [rf["name"], *rf.get("aliases", ())]
            wf = next((w_fields[n] for n in names if n in w_fields), None)
            if wf is None:
                if "default" not in rf:
                    self.add(
                        f"{path}.{rf['name']}",
                        "missing-field",
                        "writer lacks the field and the reader has no default",
                    )
                continue
            self.check(rf["type"], wf["type"], f"{path}.{rf['name']}")

    def _enum(self, r: dict[str, Any], w: dict[str, Any], path: str) -> None:
        if "default" in r:
            return
        missing = [s for s in w["symbols"] if s not in set(r["symbols"])]
        if missing:
            self.add(path, "missing-symbol", f"reader lacks symbols {missing} and has no default")


def can_read(reader: Any, writer: Any) -> list[Problem]:
    """Problems a reader with ``reader`` meets on data written with ``writer``; [] = fine.

    Both schemas must be self-contained (named types defined before use).
    """
    root = _short(str(reader["name"])) if isinstance(reader, dict) and "name" in reader else "$"
    checker = _Checker(reader, writer)
    checker.check(reader, writer, root)
    return checker.problems


def full_problems(new: Any, old: Any, *, allow_new_event_types: bool = True) -> list[str]:
    """FULL compatibility of ``new`` against ``old``: each reads the other's data.

    With ``allow_new_event_types``, branches added to the envelope's payload union
    are not counted against old readers (see the module docstring).
    """
    problems = [f"new cannot read old: {p}" for p in can_read(new, old)]
    for p in can_read(old, new):
        if allow_new_event_types and p.kind == "missing-union-branch" and p.path == PAYLOAD_PATH:
            continue
        problems.append(f"old cannot read new: {p}")
    return problems


def check_history(directory: Path = schemas.CONTRACT_DIR) -> list[str]:
    """Every problem between the working contract and its recorded history.

    Reports: no history at all; a working contract that differs from the newest
    recorded version (run ``python -m somagent.events.schemas snapshot``); and any
    FULL-compatibility problem between the working contract and any recorded
    version, or between consecutive recorded versions.
    """
    current = schemas.expand(schemas.ENVELOPE, schemas.load_named(directory))
    versions = schemas.history(directory)
    if not versions:
        return [f"{directory}/history holds no Envelope.vN.avsc; run the snapshot command"]
    problems: list[str] = []
    if versions[-1][1] != current:
        problems.append(
            f"working contract differs from history v{versions[-1][0]}; "
            "run `python -m somagent.events.schemas snapshot`"
        )
    for number, old in versions:
        problems += [f"working vs v{number}: {p}" for p in full_problems(current, old)]
    for (n_old, old), (n_new, new) in itertools.pairwise(versions):
        problems += [f"v{n_new} vs v{n_old}: {p}" for p in full_problems(new, old)]
    return problems
