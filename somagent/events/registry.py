"""Writer schemas by fingerprint: an in-process cache backed by the ``schemas`` topic.

Every writer schema a process uses is published to the compacted ``schemas`` topic
(key: fingerprint as 16 hex digits, value: the schema's JSON) *before* the first
event written with it, and the publish waits for ``acks=all``. A reader that meets
an unknown fingerprint reads the topic to its end and looks again, so a process
that never saw a schema can still decode old events.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastavro import parse_schema

from somagent.events import schemas
from somagent.events.exceptions import ContractError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriterSchema:
    """A schema ready for fastavro, with its fingerprint and payload names.

    ``payload_types`` maps a payload's short record name (the envelope's ``type``)
    to its full name, for fastavro's union tuple notation.
    """

    fingerprint: bytes
    schema: dict[str, Any]
    parsed: Any = field(repr=False)
    payload_types: dict[str, str] = field(repr=False)
    uuid_fields: dict[str, tuple[str, ...]] = field(repr=False, default_factory=dict)

    @classmethod
    def build(cls, schema: dict[str, Any]) -> WriterSchema:
        try:
            parsed = parse_schema(schema)
        except Exception as exc:  # fastavro raises several types for bad schemas
            raise ContractError(f"schema {schema.get('name')!r} does not parse: {exc}") from exc
        try:
            names = schemas.payload_names(schema)
        except (ContractError, KeyError, TypeError):
            names = ()
        payload_types = {}
        for name in names:
            full = name if "." in name else f"{schemas.NAMESPACE}.{name}"
            payload_types[full.rsplit(".", 1)[1]] = full
        return cls(schemas.fingerprint(schema), schema, parsed, payload_types, _uuid_fields(schema))

    def to_json(self) -> str:
        return json.dumps(self.schema, separators=(",", ":"), sort_keys=True)


def _is_uuid(node: Any) -> bool:
    if isinstance(node, list):
        return any(_is_uuid(branch) for branch in node)
    return isinstance(node, dict) and node.get("logicalType") == "uuid"


def _uuid_fields(schema: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Top-level UUID fields of the envelope ("") and of each payload record, by short name.

    fastavro writes any string into a ``uuid`` field but readers parse it, so the
    codec checks these fields on encode rather than let an unreadable event out.
    """
    found: dict[str, tuple[str, ...]] = {}
    if schema.get("type") != "record":
        return found
    found[""] = tuple(f["name"] for f in schema["fields"] if _is_uuid(f["type"]))
    for fld in schema["fields"]:
        if fld["name"] != "payload" or not isinstance(fld["type"], list):
            continue
        for branch in fld["type"]:
            if isinstance(branch, dict) and branch.get("type") == "record":
                short = str(branch["name"]).rsplit(".", 1)[-1]
                found[short] = tuple(f["name"] for f in branch["fields"] if _is_uuid(f["type"]))
    return found


class SchemaLog(Protocol):
    """Durable, shared storage of writer schemas (the ``schemas`` topic)."""

    def publish(self, fingerprint: bytes, schema_json: str) -> None:
        """Store one schema; return only once it is durable."""

    def fetch_new(self) -> Iterable[tuple[bytes, str]]:
        """(fingerprint, schema JSON) stored since the previous call; all on the first."""


class SchemaRegistry:
    """Fingerprint → :class:`WriterSchema`, thread-safe.

    Without a ``log`` the registry is process-local: fine for pure code and unit
    tests, but events it encodes are readable only by processes that register the
    same schema themselves.
    """

    def __init__(self, log: SchemaLog | None = None) -> None:
        self._log = log
        self._by_fp: dict[bytes, WriterSchema] = {}
        self._published: set[bytes] = set()
        self._lock = threading.Lock()

    @property
    def durable(self) -> bool:
        """True when registered schemas are published to a shared log."""
        return self._log is not None

    def __len__(self) -> int:
        return len(self._by_fp)

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self._by_fp

    def register(self, schema: dict[str, Any]) -> WriterSchema:
        """Make ``schema`` known (and published, if there is a log); idempotent."""
        writer = WriterSchema.build(schema)
        with self._lock:
            known = self._by_fp.setdefault(writer.fingerprint, writer)
            if self._log is not None and writer.fingerprint not in self._published:
                self._log.publish(writer.fingerprint, writer.to_json())
                self._published.add(writer.fingerprint)
        return known

    def lookup(self, fingerprint: bytes) -> WriterSchema | None:
        """The schema with this fingerprint, reading new ``schemas`` records on a miss."""
        found = self._by_fp.get(fingerprint)
        if found is None and self._log is not None:
            self.refresh()
            found = self._by_fp.get(fingerprint)
        return found

    def refresh(self) -> int:
        """Load schemas published since the last refresh; return how many were new."""
        if self._log is None:
            return 0
        added = 0
        with self._lock:
            for fp, text in self._log.fetch_new():
                if fp in self._by_fp:
                    self._published.add(fp)
                    continue
                try:
                    writer = WriterSchema.build(json.loads(text))
                except (ValueError, ContractError) as exc:
                    log.warning("schemas record %s is not a schema: %s", fp.hex(), exc)
                    continue
                if writer.fingerprint != fp:
                    log.warning(
                        "schemas record keyed %s holds a schema with fingerprint %s; ignored",
                        fp.hex(),
                        writer.fingerprint.hex(),
                    )
                    continue
                self._by_fp[fp] = writer
                self._published.add(fp)
                added += 1
        return added
