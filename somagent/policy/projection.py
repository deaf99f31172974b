"""Policy read models from the log: ``policies`` and ``policy_signatures``.

:func:`statements` maps one event to the SQL that applies it (pure: no I/O);
:func:`apply` runs them inside the caller's transaction. The Postgres projector
calls it for every policy event; the edge (and the stack's bootstrap) call it right
after their own append (read-your-writes); replay calls it into ``*_replay``
tables. The fold is idempotent: a registration and a signature insert once; an
activation changes only a ``registered`` row; a revocation is terminal, so an
event applied twice (edge, then projector) changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from somagent.contract import names
from somagent.projections.statements import Statement, apply_statements, suffixed

TABLES = ("policies", "policy_signatures")
KEYS: dict[str, tuple[str, ...]] = {
    "policies": ("policy_hash",),
    "policy_signatures": ("policy_hash", "key_id"),
}
EVENT_TYPES = names.POLICY_EVENTS


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))


def statements(event: Mapping[str, Any], t: Mapping[str, str]) -> list[Statement]:
    """The SQL that applies ``event`` to the tables ``t`` (logical name → table name)."""
    kind, p, ts = event["type"], event["payload"], _ts(event["ts"])
    if kind == names.POLICY_REGISTERED:
        return [(
            f"INSERT INTO {t['policies']} (policy_hash, name, version, document, principal,"
            " registered_at, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (policy_hash) DO NOTHING",
            (p["policy_hash"], p["name"], p["version"], p["document_json"],
             p.get("principal") or "", ts, uuid.UUID(str(event["event_id"]))),
        )]
    if kind == names.POLICY_SIGNED:
        return [(
            f"INSERT INTO {t['policy_signatures']} (policy_hash, key_id, signature, signed_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (policy_hash, key_id) DO NOTHING",
            (p["policy_hash"], p["key_id"], p["signature"], ts),
        )]
    if kind == names.POLICY_ACTIVATED:
        return [(
            f"UPDATE {t['policies']} SET status = 'active', activated_at = $2,"
            " activated_by = $3 WHERE policy_hash = $1 AND status = 'registered'",
            (p["policy_hash"], ts, list(p["key_ids"])),
        )]
    if kind == names.POLICY_REVOKED:
        return [(
            f"UPDATE {t['policies']} SET status = 'revoked', revoked_at = $2,"
            " revoke_reason = $3 WHERE policy_hash = $1 AND status <> 'revoked'",
            (p["policy_hash"], ts, p.get("reason") or ""),
        )]
    return []


def table_names(suffix: str = "") -> dict[str, str]:
    return suffixed(TABLES, suffix)


async def apply(conn: Any, events: Iterable[Mapping[str, Any]], suffix: str = "") -> int:
    """Apply the policy events among ``events`` on ``conn`` (in the caller's
    transaction); returns how many were policy events."""
    return await apply_statements(conn, events, EVENT_TYPES, statements, table_names(suffix))
