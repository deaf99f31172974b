"""The Postgres projector: sessions, turns and usage_ledger from the log.

Guarantees:

* **One transaction per batch**: the rows a batch produces and the projector's
  (topic, partition, next offset) positions commit together, so a projector
  killed at any point resumes exactly after the last committed batch and
  converges to the content of an uninterrupted run.
* **Idempotent rows**: sessions insert once, turn events apply only above the
  row's ``last_seq``, ledger rows upsert on (tenant, agent, session, minute,
  revision); a duplicated event in the log changes nothing.
* ``suffix`` projects into fresh tables (``sessions_replay`` ...) for replay.

``jobs`` and ``job_steps`` fold ``jobs.events`` (:mod:`somagent.projections.jobs`).
``tenants`` is written by the edge, not projected. Ledger rows without a session
use the nil UUID in ``session_id`` (the seed's column is NOT NULL).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from somagent.artifacts import projection as artifact_projection
from somagent.contract import names
from somagent.events.catalog import ARTIFACTS, BILLING_LEDGER, CONVERSATION, JOBS, MEMORY, POLICY
from somagent.kafka.records import Record, TopicPart
from somagent.policy import projection as policy_projection
from somagent.projections.jobs import apply_jobs
from somagent.projections.model import (
    LEDGER_COLUMNS,
    TURN_COLUMNS,
    TurnRow,
    as_datetime,
    as_uuid,
    fold_turn,
    ledger_values,
    session_row,
    turn_id_of,
)

TOPICS = (CONVERSATION, BILLING_LEDGER, JOBS, MEMORY, ARTIFACTS, POLICY)
TABLES = ("sessions", "turns", "usage_ledger", "jobs", "job_steps", *artifact_projection.TABLES,
          *policy_projection.TABLES)
# Natural key of each table, for checksums and the keys --verify prints.
KEYS: dict[str, tuple[str, ...]] = {
    "sessions": ("session_id",),
    "turns": ("turn_id",),
    "usage_ledger": ("tenant_id", "agent", "session_id", "minute", "revision"),
    "jobs": ("job_id",),
    "job_steps": ("job_id", "step"),
    **artifact_projection.KEYS,
    **policy_projection.KEYS,
}
Conn = asyncpg.Connection  # type: ignore[type-arg]


class PostgresProjector:
    """Applies decoded batches to Postgres; see the module docstring."""

    def __init__(self, conn: Any, *, name: str = "postgres", suffix: str = "") -> None:
        self.conn: Any = conn
        self.name = name
        self.suffix = suffix
        self.t = {table: f"{table}{suffix}" for table in TABLES}

    async def create_fresh_tables(self) -> None:
        """Drop and recreate the suffixed tables (replay); forbidden without a suffix."""
        if not self.suffix:
            raise ValueError("create_fresh_tables needs a suffix; live tables are never dropped")
        async with self.conn.transaction():
            for table in TABLES:
                await self.conn.execute(f"DROP TABLE IF EXISTS {self.t[table]}")
                await self.conn.execute(
                    f"CREATE TABLE {self.t[table]} (LIKE {table} INCLUDING ALL)"
                )
            await self.conn.execute(
                "DELETE FROM projector_positions WHERE projector = $1", self.name
            )

    async def positions(self) -> dict[TopicPart, int]:
        rows = await self.conn.fetch(
            "SELECT topic, partition, next_offset FROM projector_positions WHERE projector = $1",
            self.name,
        )
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def apply(
        self, records: Iterable[Record], positions: Mapping[TopicPart, int]
    ) -> set[uuid.UUID]:
        """Apply ``records`` and store ``positions`` in one transaction.

        Returns the sessions whose ledger rows changed (for budget reconciliation).
        """
        sessions, expired, turn_events, ledger, job_events, artifacts = [], [], [], [], [], []
        policies = []
        for rec in records:
            kind = rec.event["type"]
            if kind in policy_projection.EVENT_TYPES:
                policies.append(rec.event)
            elif kind in artifact_projection.EVENT_TYPES:
                artifacts.append(rec.event)
            elif kind == names.SESSION_MINTED:
                sessions.append(session_row(rec.event))
            elif kind == names.SESSION_EXPIRED:
                expired.append(
                    (as_uuid(rec.event["payload"]["session_id"]), as_datetime(rec.event["ts"]))
                )
            elif kind == names.USAGE_WINDOW_CLOSED:
                ledger.append(ledger_values(rec.event))
            elif rec.topic == CONVERSATION and turn_id_of(rec.event) is not None:
                turn_events.append(rec.event)
            elif rec.topic == JOBS:
                job_events.append(rec.event)
        async with self.conn.transaction():
            if sessions:
                await self._sessions(sessions)
            if expired:
                await self.conn.executemany(
                    f"UPDATE {self.t['sessions']} SET expires_at = LEAST(expires_at, $2) "
                    "WHERE session_id = $1",
                    expired,
                )
            if turn_events:
                await self._turns(turn_events)
            if ledger:
                await self._ledger(ledger)
            if job_events:
                await apply_jobs(self.conn, job_events, self.t["jobs"], self.t["job_steps"])
            if artifacts:
                await artifact_projection.apply(self.conn, artifacts, self.suffix)
            if policies:
                await policy_projection.apply(self.conn, policies, self.suffix)
            await self._positions(positions)
        return {row[2] for row in ledger}

    async def _sessions(self, rows: list[Any]) -> None:
        await self.conn.executemany(
            f"INSERT INTO {self.t['sessions']} (session_id, tenant_id, persona_hash, "
            "policy_hash, token_budget, tools_per_min, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (session_id) DO NOTHING",
            [
                (
                    r.session_id,
                    r.tenant_id,
                    r.persona_hash,
                    r.policy_hash,
                    r.token_budget,
                    r.tools_per_min,
                    r.created_at,
                    r.expires_at,
                )
                for r in rows
            ],
        )

    async def _turns(self, events: list[dict[str, Any]]) -> None:
        ids = sorted({turn_id_of(e) for e in events}, key=str)
        found = await self.conn.fetch(
            f"SELECT {', '.join(TURN_COLUMNS)} FROM {self.t['turns']} "
            "WHERE turn_id = ANY($1::uuid[]) FOR UPDATE",
            ids,
        )
        rows: dict[uuid.UUID, TurnRow | None] = {r["turn_id"]: TurnRow(**dict(r)) for r in found}
        for event in events:
            tid = turn_id_of(event)
            assert tid is not None
            rows[tid] = fold_turn(rows.get(tid), event)
        cols = ", ".join(TURN_COLUMNS)
        marks = ", ".join(f"${i + 1}" for i in range(len(TURN_COLUMNS)))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in TURN_COLUMNS[3:])
        await self.conn.executemany(
            f"INSERT INTO {self.t['turns']} ({cols}) VALUES ({marks}) "
            f"ON CONFLICT (turn_id) DO UPDATE SET {updates}",
            [row.values() for row in rows.values() if row is not None],
        )

    async def _ledger(self, rows: list[tuple[Any, ...]]) -> None:
        cols = ", ".join(LEDGER_COLUMNS)
        marks = ", ".join(f"${i + 1}" for i in range(len(LEDGER_COLUMNS)))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in LEDGER_COLUMNS[5:])
        await self.conn.executemany(
            f"INSERT INTO {self.t['usage_ledger']} ({cols}) VALUES ({marks}) "
            "ON CONFLICT (tenant_id, agent, session_id, minute, revision) "
            f"DO UPDATE SET {updates}",
            rows,
        )

    async def _positions(self, positions: Mapping[TopicPart, int]) -> None:
        await self.conn.executemany(
            "INSERT INTO projector_positions (projector, topic, partition, next_offset, updated_at)"
            " VALUES ($1, $2, $3, $4, now()) ON CONFLICT (projector, topic, partition)"
            " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
            [(self.name, t, p, off) for (t, p), off in positions.items()],
        )

    async def ledger_totals(
        self, sessions: Iterable[uuid.UUID]
    ) -> list[tuple[str, int, int, int | None]]:
        """(session, tokens, cost_cents, token_budget) summed over the ledger."""
        rows = await self.conn.fetch(
            f"SELECT l.session_id, sum(l.tokens)::bigint AS tokens, "
            f"sum(l.cost_cents)::bigint AS cost, max(s.token_budget) AS budget "
            f"FROM {self.t['usage_ledger']} l LEFT JOIN {self.t['sessions']} s "
            "ON s.session_id = l.session_id WHERE l.session_id = ANY($1::uuid[]) "
            "GROUP BY l.session_id",
            list(sessions),
        )
        return [(str(r["session_id"]), r["tokens"], r["cost"], r["budget"]) for r in rows]


async def table_hashes(conn: Any, table: str, key: tuple[str, ...]) -> dict[str, str]:
    """Key text → md5 of the whole row's text, for order-independent comparison."""
    key_sql = " || '/' || ".join(f"{k}::text" for k in key)
    rows = await conn.fetch(f"SELECT {key_sql} AS k, md5(t::text) AS h FROM {table} t")
    return {r["k"]: r["h"] for r in rows}
