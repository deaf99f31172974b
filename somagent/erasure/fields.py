"""Which payload fields carry PII, and sealing/opening them in one payload (pure).

=========================== ===============================================
event type                  sealed fields
=========================== ===============================================
TurnRequested               ``text``
TurnAnswered                ``text``
TurnRecalled                ``evidence[].text``
ToolCallRequested           ``arguments_json``
ToolCallDelta               ``chunk``
ToolCallCompleted           ``result_json``
MemoryRememberRequested     ``text``
MemoryRemembered            ``text``
=========================== ===============================================

Everything else (ids, hashes, counts, tool names, timings) stays in clear: the
log stays replayable and auditable without any key. ``text_sha256`` of memory
events stays too (it is how duplicates are found); a short text's hash can be
guessed by trying candidates, which the erasure docs state.

:func:`seal_payload` and :func:`open_payload` take the key material as functions,
so this module does no I/O. Opening passes values that are not sealed through
unchanged (events written before sealing was switched on, or by a producer that
does not seal); a value whose key is destroyed opens as :data:`ERASED`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from somagent.erasure.cipher import ERASED, is_sealed, key_id_of, open_sealed, seal

#: event type → top-level string fields, and list fields whose items' ``text`` is sealed.
PII_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "TurnRequested": ("text",),
    "TurnAnswered": ("text",),
    "TurnRecalled": ("evidence[].text",),
    "ToolCallRequested": ("arguments_json",),
    "ToolCallDelta": ("chunk",),
    "ToolCallCompleted": ("result_json",),
    "MemoryRememberRequested": ("text",),
    "MemoryRemembered": ("text",),
}

#: (tenant) → (key id, data key) of the tenant's live key.
LiveKey = Callable[[str], tuple[str, bytes]]
#: (tenant, key id) → the data key, or None when it was destroyed.
KeyById = Callable[[str, str], bytes | None]


def _map_fields(kind: str, payload: Mapping[str, Any],
                fn: Callable[[str, str], str]) -> dict[str, Any]:
    out = dict(payload)
    for spec in PII_FIELDS.get(kind, ()):
        name, _, inner = spec.partition("[].")
        value = out.get(name)
        if inner and isinstance(value, list):
            out[name] = [
                {**item, inner: fn(f"{kind}.{spec}", item[inner])}
                if isinstance(item, Mapping) and isinstance(item.get(inner), str) else item
                for item in value
            ]
        elif not inner and isinstance(value, str):
            out[name] = fn(f"{kind}.{spec}", value)
    return out


def seal_payload(kind: str, tenant: str, payload: Mapping[str, Any],
                 live_key: LiveKey) -> Mapping[str, Any]:
    """``payload`` with its PII fields sealed with ``tenant``'s live key (the same object
    when ``kind`` has none; values already sealed are left as they are)."""
    if kind not in PII_FIELDS:
        return payload
    key_id, key = live_key(tenant)

    def one(field: str, value: str) -> str:
        return value if is_sealed(value) else seal(key, key_id, tenant, field, value)

    return _map_fields(kind, payload, one)


def open_payload(kind: str, tenant: str, payload: Mapping[str, Any],
                 key_by_id: KeyById) -> Mapping[str, Any]:
    """``payload`` with its sealed fields opened, or :data:`ERASED` where the key is gone.

    Raises:
        CipherError: a sealed value was altered or sealed for another tenant or field.
    """
    if kind not in PII_FIELDS:
        return payload

    def one(field: str, value: str) -> str:
        if not is_sealed(value):
            return value
        key = key_by_id(tenant, key_id_of(value))
        return ERASED if key is None else open_sealed(key, tenant, field, value)

    return _map_fields(kind, payload, one)
