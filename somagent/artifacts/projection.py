"""Artifact read models from the log: ``artifacts``, ``artifact_versions``, ``agent_installs``.

:func:`statements` maps one event to the SQL that applies it (pure: no I/O);
:func:`apply` runs them on a connection, inside the caller's transaction. The
Postgres projector calls it for every artifact event of a batch; the edge calls
it right after its own append (read-your-writes); replay calls it into
``*_replay`` tables. The fold is idempotent and order-safe:

* versions insert once per ``(kind, id, version)``;
* every change to ``artifacts`` and ``agent_installs`` is guarded by the
  artifact's event counter (the envelope ``seq``, assigned by the edge under a
  per-artifact lock): a row changes only for a ``seq`` above its ``last_seq``, so a
  duplicate or an event applied twice (edge, then projector) changes nothing.

A ``CapsuleRevoked`` is appended once per tenant that holds the capsule (the
owner, and each tenant an agent installed it into, so each tenant's memory drops
it); only the owner's copy (``owner_tenant`` = envelope tenant) changes the
``artifacts`` row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from somagent.contract import names
from somagent.projections.statements import Statement, apply_statements, suffixed

TABLES = ("artifacts", "artifact_versions", "agent_installs")
KEYS: dict[str, tuple[str, ...]] = {
    "artifacts": ("kind", "artifact_id"),
    "artifact_versions": ("kind", "artifact_id", "version"),
    "agent_installs": ("tenant_id", "agent_id"),
}
EVENT_TYPES = frozenset((
    names.CAPSULE_UPLOADED, names.CAPSULE_REVOKED, names.AGENT_PUBLISHED, names.AGENT_UPDATED,
    names.AGENT_INSTALLED, names.AGENT_UNINSTALLED, names.AGENT_REVOKED,
))


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _ts(value: Any) -> Any:
    from datetime import UTC, datetime, timedelta

    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))


def _version(t: Mapping[str, str], kind: str, event: Mapping[str, Any]) -> list[Statement]:
    p = event["payload"]
    artifact = p["capsule_id"] if kind == "capsule" else p["agent_id"]
    ts, seq, tenant = _ts(event["ts"]), int(event["seq"]), _uuid(event["tenant"])
    version_row = (
        kind, artifact, p["version"], tenant, p["sha256"], int(p["size_bytes"]), p["key_id"],
        p["blob_key"], p["name"], p.get("persona_hash"), p.get("policy_hash"),
        list(p.get("tools") or []), list(p.get("capsule_ids") or []),
        int(p.get("memory_count") or 0), int(p.get("sbom_components") or 0),
        int(p["sla_ms"]) if kind == "agent" else None, ts, _uuid(event["event_id"]),
    )
    return [
        (
            f"INSERT INTO {t['artifact_versions']} (kind, artifact_id, version, tenant_id, sha256,"
            " size_bytes, key_id, blob_key, name, persona_hash, policy_hash, tools, capsule_ids,"
            " memory_count, sbom_components, sla_ms, created_at, event_id) VALUES ($1, $2, $3,"
            " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
            " ON CONFLICT (kind, artifact_id, version) DO NOTHING",
            version_row,
        ),
        (
            f"INSERT INTO {t['artifacts']} AS a (kind, artifact_id, tenant_id, name,"
            " latest_version, status, created_at, updated_at, last_seq)"
            " VALUES ($1, $2, $3, $4, $5, 'active', $6, $6, $7)"
            " ON CONFLICT (kind, artifact_id) DO UPDATE SET name = EXCLUDED.name,"
            " latest_version = EXCLUDED.latest_version, updated_at = EXCLUDED.updated_at,"
            " last_seq = EXCLUDED.last_seq WHERE a.last_seq < EXCLUDED.last_seq",
            (kind, artifact, tenant, p["name"], p["version"], ts, seq),
        ),
    ]


def _revoke(t: Mapping[str, str], kind: str, artifact: str, event: Mapping[str, Any]
            ) -> list[Statement]:
    ts, seq = _ts(event["ts"]), int(event["seq"])
    out: list[Statement] = [(
        f"UPDATE {t['artifacts']} SET status = 'revoked', revoked_at = $3, revoke_reason = $4,"
        " updated_at = $3, last_seq = $5 WHERE kind = $1 AND artifact_id = $2 AND last_seq < $5",
        (kind, artifact, ts, str(event["payload"].get("reason") or ""), seq),
    )]
    if kind == "agent":
        out.append((
            f"UPDATE {t['agent_installs']} SET status = 'revoked', updated_at = $2, last_seq = $3"
            " WHERE agent_id = $1 AND last_seq < $3",
            (artifact, ts, seq),
        ))
    return out


def _bump(t: Mapping[str, str], agent: str, ts: Any, seq: int) -> Statement:
    return (
        f"UPDATE {t['artifacts']} SET last_seq = $3, updated_at = $2"
        " WHERE kind = 'agent' AND artifact_id = $1 AND last_seq < $3",
        (agent, ts, seq),
    )


def _install(t: Mapping[str, str], event: Mapping[str, Any]) -> list[Statement]:
    p = event["payload"]
    ts, seq, tenant = _ts(event["ts"]), int(event["seq"]), _uuid(event["tenant"])
    return [
        (
            f"INSERT INTO {t['agent_installs']} AS i (tenant_id, agent_id, version, auto_update,"
            " status, capsule_ids, updated_at, last_seq) VALUES ($1, $2, $3, $4, 'installed', $5,"
            " $6, $7) ON CONFLICT (tenant_id, agent_id) DO UPDATE SET version = EXCLUDED.version,"
            " auto_update = EXCLUDED.auto_update, status = 'installed',"
            " capsule_ids = EXCLUDED.capsule_ids, updated_at = EXCLUDED.updated_at,"
            " last_seq = EXCLUDED.last_seq WHERE i.last_seq < EXCLUDED.last_seq",
            (tenant, p["agent_id"], p["version"], bool(p.get("auto_update")),
             list(p.get("capsule_ids") or []), ts, seq),
        ),
        _bump(t, p["agent_id"], ts, seq),
    ]


def _uninstall(t: Mapping[str, str], event: Mapping[str, Any]) -> list[Statement]:
    p = event["payload"]
    ts, seq, tenant = _ts(event["ts"]), int(event["seq"]), _uuid(event["tenant"])
    return [
        (
            f"UPDATE {t['agent_installs']} SET status = 'uninstalled', updated_at = $3,"
            " last_seq = $4 WHERE tenant_id = $1 AND agent_id = $2 AND last_seq < $4",
            (tenant, p["agent_id"], ts, seq),
        ),
        _bump(t, p["agent_id"], ts, seq),
    ]


def statements(event: Mapping[str, Any], tables: Mapping[str, str]) -> list[Statement]:
    """The SQL that applies ``event`` to ``tables`` (logical name → table name)."""
    kind, p = event["type"], event["payload"]
    if kind == names.CAPSULE_UPLOADED:
        if not p.get("version"):
            return []  # a pre-issue-15 event without a version is not an artifact
        return _version(tables, "capsule", event)
    if kind in (names.AGENT_PUBLISHED, names.AGENT_UPDATED):
        return _version(tables, "agent", event)
    if kind == names.CAPSULE_REVOKED:
        owner = p.get("owner_tenant") or ""
        if owner and owner != str(event["tenant"]):
            return []  # a holder's copy: only its memory changes
        return _revoke(tables, "capsule", p["capsule_id"], event)
    if kind == names.AGENT_REVOKED:
        return _revoke(tables, "agent", p["agent_id"], event)
    if kind == names.AGENT_INSTALLED:
        return _install(tables, event)
    if kind == names.AGENT_UNINSTALLED:
        return _uninstall(tables, event)
    return []


def table_names(suffix: str = "") -> dict[str, str]:
    return suffixed(TABLES, suffix)


async def apply(conn: Any, events: Iterable[Mapping[str, Any]], suffix: str = "") -> int:
    """Apply the artifact events among ``events`` on ``conn`` (in the caller's
    transaction); returns how many were artifact events."""
    return await apply_statements(conn, events, EVENT_TYPES, statements, table_names(suffix))
