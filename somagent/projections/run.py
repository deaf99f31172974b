"""Running the projectors: ``run_projectors(settings)`` (``somagent serve projector``).

Each projector has its own :class:`LogReader` assigned from its stored positions
and loops: read a batch, apply it (rows + positions), repeat. The Postgres
projector also corrects the Redis budget snapshot of every session whose ledger
rows changed (after its transaction commits; on start it re-corrects all live
sessions, which covers a crash between the commit and the correction).

``python -m somagent.projections.run [--only postgres|clickhouse] [--name N]``
runs them in the foreground until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from somagent.config import Settings, load_settings
from somagent.kafka.admin import partitions_of
from somagent.kafka.reader import LogReader
from somagent.kafka.schema_log import kafka_codec
from somagent.limits.budget import LedgerTotal, reconcile
from somagent.projections import chproj, postgres
from somagent.projections.clickhouse import ClickHouse, connect

log = logging.getLogger(__name__)
# Called after each applied batch with the projector's name and its new positions.
OnBatch = Callable[[str, dict[tuple[str, int], int]], None]
BATCH = 5000


@dataclass
class ProjectorStats:
    """What a running projector has done, for logs and tests."""

    batches: int = 0
    events: int = 0
    positions: dict[tuple[str, int], int] = field(default_factory=dict)

    def applied(
        self,
        name: str,
        events: int,
        positions: dict[tuple[str, int], int],
        on_batch: OnBatch | None,
    ) -> None:
        """Count one applied batch, log it and report its positions to ``on_batch``."""
        self.batches += 1
        self.events += events
        self.positions = dict(positions)
        log.debug("projector %s: %d events, positions %s", name, events, self.positions)
        if on_batch is not None:
            on_batch(name, self.positions)


async def run_postgres(
    settings: Settings,
    stop: Any,
    *,
    name: str = "postgres",
    stats: ProjectorStats | None = None,
    budgets: bool = True,
    on_batch: OnBatch | None = None,
    batch: int = BATCH,
) -> ProjectorStats:
    """The Postgres projector until ``stop`` is set (``batch``: records per transaction)."""
    stats = stats or ProjectorStats()
    conn = await asyncpg.connect(settings.postgres_dsn)
    redis: Any = None
    if budgets:
        import redis.asyncio as aioredis

        redis = aioredis.from_url(settings.redis_dsn)
    proj = postgres.PostgresProjector(conn, name=name)
    codec = kafka_codec(settings)
    parts = await asyncio.to_thread(partitions_of, settings, postgres.TOPICS)
    reader = LogReader(settings, parts, await proj.positions(), name=name, codec=codec)
    try:
        if redis is not None:
            await _reconcile(proj, redis, await _live_sessions(conn))
        while not stop.is_set():
            records = await asyncio.to_thread(reader.batch, batch, 0.5)
            if not records and reader.positions == stats.positions:
                continue
            touched = await proj.apply(records, reader.positions)
            stats.applied(name, len(records), reader.positions, on_batch)
            if touched and redis is not None:
                await _reconcile(proj, redis, touched)
    finally:
        reader.close()
        await conn.close()
        if redis is not None:
            await redis.aclose()
    return stats


async def _live_sessions(conn: Any) -> list[Any]:
    rows = await conn.fetch(
        "SELECT DISTINCT l.session_id FROM usage_ledger l JOIN sessions s "
        "ON s.session_id = l.session_id WHERE s.expires_at > now()"
    )
    return [r["session_id"] for r in rows]


async def _reconcile(proj: postgres.PostgresProjector, redis: Any, sessions: Any) -> None:
    if not sessions:
        return
    totals = await proj.ledger_totals(sessions)
    await reconcile(redis, [LedgerTotal(*t) for t in totals])


def run_clickhouse_blocking(
    settings: Settings,
    stop: Any,
    *,
    name: str = "clickhouse",
    ch: ClickHouse | None = None,
    stats: ProjectorStats | None = None,
    on_batch: OnBatch | None = None,
    batch: int = 4 * BATCH,
) -> ProjectorStats:
    """The ClickHouse projector until ``stop.is_set()`` (a threading or asyncio Event)."""
    stats = stats or ProjectorStats()
    ch = ch or connect(settings)
    proj = chproj.ClickHouseProjector(ch, name=name)
    proj.ensure_tables()
    parts = partitions_of(settings, chproj.TOPICS)
    reader = LogReader(
        settings, parts, proj.positions(), name=name, codec=kafka_codec(settings)
    )
    try:
        while not stop.is_set():
            records = reader.batch(batch, 0.5)
            if not records and reader.positions == stats.positions:
                continue
            proj.apply(records, reader.positions)
            stats.applied(name, len(records), reader.positions, on_batch)
    finally:
        reader.close()
    return stats


async def run_projectors_async(
    settings: Settings,
    stop: asyncio.Event,
    *,
    only: str | None = None,
    prefix: str = "",
    on_batch: OnBatch | None = None,
    batch: int | None = None,
) -> None:
    """Both projectors (or ``only`` one) until ``stop`` is set; a failure stops both."""
    tasks = []
    if only in (None, "postgres"):
        tasks.append(
            asyncio.create_task(
                run_postgres(
                    settings,
                    stop,
                    name=f"{prefix}postgres",
                    on_batch=on_batch,
                    batch=batch or BATCH,
                )
            )
        )
    if only in (None, "clickhouse"):
        tasks.append(
            asyncio.create_task(
                asyncio.to_thread(
                    run_clickhouse_blocking,
                    settings,
                    stop,
                    name=f"{prefix}clickhouse",
                    on_batch=on_batch,
                    batch=batch or 4 * BATCH,
                )
            )
        )
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await task


def run_projectors(
    settings: Settings,
    *,
    only: str | None = None,
    prefix: str = "",
    status_file: Path | None = None,
    batch: int | None = None,
) -> None:
    """Run the projectors in the foreground until SIGTERM or SIGINT (``serve projector``).

    ``status_file``, when given, is rewritten (atomically) after every batch with
    each projector's positions: ``{"postgres": {"topic/partition": next_offset}}``.
    """
    status: dict[str, dict[str, int]] = {}
    lock = threading.Lock()

    def on_batch(name: str, positions: dict[tuple[str, int], int]) -> None:
        if status_file is None:
            return
        with lock:
            status[name] = {f"{t}/{p}": off for (t, p), off in positions.items()}
            tmp = status_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(status))
            tmp.replace(status_file)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_projectors_async(
            settings, stop, only=only, prefix=prefix, on_batch=on_batch, batch=batch
        )

    asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m somagent.projections.run")
    parser.add_argument("--only", choices=("postgres", "clickhouse"))
    parser.add_argument("--prefix", default="", help="projector name prefix (positions key)")
    parser.add_argument("--status-file", type=Path, help="positions as JSON after each batch")
    parser.add_argument("--batch", type=int, help="records per batch (transaction / insert)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_projectors(
        load_settings(),
        only=args.only,
        prefix=args.prefix,
        status_file=args.status_file,
        batch=args.batch,
    )


class ProjectorThreads:
    """Both projectors in background threads of this process (``somagent up``, tests).

    ``stop()`` asks them to finish their current batch and waits; errors raised in
    a thread are re-raised by ``stop()`` and reported by ``failure``.
    """

    def __init__(self, settings: Settings, *, prefix: str = "", budgets: bool = True) -> None:
        self.settings = settings
        self.prefix = prefix
        self.stop_event = threading.Event()
        self.stats = {"postgres": ProjectorStats(), "clickhouse": ProjectorStats()}
        self.errors: list[BaseException] = []

        def pg() -> None:
            asyncio.run(
                run_postgres(
                    settings,
                    self.stop_event,
                    name=f"{prefix}postgres",
                    stats=self.stats["postgres"],
                    budgets=budgets,
                )
            )

        def ch() -> None:
            run_clickhouse_blocking(
                settings,
                self.stop_event,
                name=f"{prefix}clickhouse",
                stats=self.stats["clickhouse"],
            )

        self.threads = [
            threading.Thread(target=self._guard(fn), name=f"projector-{n}", daemon=True)
            for n, fn in (("postgres", pg), ("clickhouse", ch))
        ]
        for thread in self.threads:
            thread.start()

    def _guard(self, fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # reported by stop()/failure
                log.exception("projector thread failed")
                self.errors.append(exc)

        return run

    @property
    def failure(self) -> BaseException | None:
        return self.errors[0] if self.errors else None

    def stop(self, timeout_s: float = 30.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout_s)
        if self.errors:
            raise self.errors[0]


if __name__ == "__main__":
    main()
