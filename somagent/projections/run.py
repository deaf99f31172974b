"""Running the projectors: ``run_projectors(settings)`` (``somagent serve projector``).

Each projector has its own :class:`LogReader` assigned from its stored positions
and loops: read a batch, apply it (rows + positions), repeat. The Postgres
projector also corrects the Redis budget snapshot of every session whose ledger
rows changed (after its transaction commits; on start it re-corrects all live
sessions, which covers a crash between the commit and the correction).

A dependency that fails (Postgres, Redis, the analytics service or Kafka
restarting) never ends a projector: :func:`keep_running` records the failure in
its :class:`ProjectorStats` (so the role's health says why it is stuck), backs off
(1 s doubling to 30 s), logs at most one line per failure kind per 30 s, and
starts the loop again from the stored positions, which is exact because rows and
positions are written together.

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
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from somagent import logs
from somagent.config import Settings, load_settings
from somagent.kafka.admin import partitions_of
from somagent.kafka.reader import BULK, LogReader
from somagent.kafka.records import Record
from somagent.kafka.schema_log import kafka_codec
from somagent.limits.budget import LedgerTotal, reconcile
from somagent.projections import chproj, postgres
from somagent.projections.clickhouse import ClickHouse, connect
from somagent.telemetry.tracing import record_spans

log = logging.getLogger(__name__)
# Called after each applied batch with the projector's name and its new positions.
OnBatch = Callable[[str, dict[tuple[str, int], int]], None]
BATCH = 5000
# A live projector follows the log in batches: the broker holds each fetch until 256 KiB
# or 250 ms have gathered, so a trickle of events costs a few fetches a second instead of
# one per record (read models may lag the log by that much more).
FOLLOW = {**BULK, "fetch.min.bytes": 256 * 1024, "fetch.wait.max.ms": 250}


@dataclass
class ProjectorStats:
    """What a running projector has done, for logs, health and tests."""

    batches: int = 0
    events: int = 0
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    error: str = ""  # the last failure while the projector cannot make progress
    failing_since: float | None = None  # time.monotonic() of the first failure in a row
    failures: int = 0

    def health(self) -> tuple[bool, str]:
        """Healthy unless the loop is failing; the detail names the failure."""
        if self.failing_since is None:
            return True, ""
        return False, f"failing for {time.monotonic() - self.failing_since:.0f}s: {self.error}"

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
        if self.failing_since is not None:
            log.warning("projector %s recovered after %.1fs", name,
                        time.monotonic() - self.failing_since)
            self.failing_since, self.error = None, ""
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
    reader = LogReader(settings, parts, await proj.positions(), name=name, codec=codec,
                       config=FOLLOW)
    try:
        if redis is not None:
            await _reconcile(proj, redis, await _live_sessions(conn))
        while not stop.is_set():
            records = await asyncio.to_thread(reader.batch, batch, 0.5)
            if not records and reader.positions == stats.positions:
                continue
            started_ns = time.time_ns()
            touched = await proj.apply(records, reader.positions)
            record_spans(f"projection {name}", _span_records(records), started_ns, time.time_ns())
            stats.applied(name, len(records), reader.positions, on_batch)
            if touched and redis is not None:
                await _reconcile(proj, redis, touched)
    finally:
        reader.close()
        await conn.close()
        if redis is not None:
            await redis.aclose()
    return stats


def _span_records(records: list[Record]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """What a projection span says about each record (its event and position)."""
    for r in records:
        yield r.traceparent, {"somagent.event_type": str(r.event.get("type")),
                              "messaging.destination.name": r.topic,
                              "somagent.position": f"{r.partition}-{r.offset}"}


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
        settings, parts, proj.positions(), name=name, codec=kafka_codec(settings), config=FOLLOW
    )
    try:
        while not stop.is_set():
            records = reader.batch(batch, 0.5)
            if not records and reader.positions == stats.positions:
                continue
            started_ns = time.time_ns()
            proj.apply(records, reader.positions)
            record_spans(f"projection {name}", _span_records(records), started_ns, time.time_ns())
            stats.applied(name, len(records), reader.positions, on_batch)
    finally:
        reader.close()
    return stats


MAX_BACKOFF_S = 30.0
LOG_EVERY_S = 30.0


def _failed(name: str, stats: ProjectorStats, exc: BaseException, logged: dict[str, float]) -> None:
    """Record a failure; log it when its kind was not logged in the last ``LOG_EVERY_S``."""
    now = time.monotonic()
    stats.failures += 1
    stats.error = f"{type(exc).__name__}: {exc}"[:500]
    stats.failing_since = stats.failing_since or now
    kind = type(exc).__name__
    if now - logged.get(kind, -LOG_EVERY_S) >= LOG_EVERY_S:
        logged[kind] = now
        log.error("projector %s failed (%d in a row), retrying: %s", name, stats.failures,
                  stats.error)


async def keep_running(
    name: str, stats: ProjectorStats, stop: Any, run: Callable[[], Awaitable[Any]]
) -> None:
    """Run ``run()`` until ``stop`` is set, starting it again after a failure (see the
    module doc). ``stop`` is a threading or asyncio event; only its ``is_set`` is used."""
    backoff_s, logged = 1.0, dict[str, float]()
    while not stop.is_set():
        try:
            await run()
            return
        except Exception as exc:
            _failed(name, stats, exc, logged)
        deadline = time.monotonic() + backoff_s
        while not stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        backoff_s = 1.0 if stats.failing_since is None else min(backoff_s * 2, MAX_BACKOFF_S)


async def run_projectors_async(
    settings: Settings,
    stop: asyncio.Event,
    *,
    only: str | None = None,
    prefix: str = "",
    on_batch: OnBatch | None = None,
    batch: int | None = None,
    stats: dict[str, ProjectorStats] | None = None,
) -> None:
    """Both projectors (or ``only`` one) until ``stop`` is set, each kept running through
    dependency failures (:func:`keep_running`); ``stats`` receives each one's stats."""
    stats = stats if stats is not None else {}
    tasks = []
    if only in (None, "postgres"):
        pg_name = f"{prefix}postgres"
        pg_stats = stats.setdefault("postgres", ProjectorStats())

        async def pg() -> None:
            await run_postgres(settings, stop, name=pg_name, stats=pg_stats,
                               on_batch=on_batch, batch=batch or BATCH)

        tasks.append(asyncio.create_task(keep_running(pg_name, pg_stats, stop, pg)))
    if only in (None, "clickhouse"):
        ch_name = f"{prefix}clickhouse"
        ch_stats = stats.setdefault("clickhouse", ProjectorStats())

        async def ch() -> None:
            await asyncio.to_thread(run_clickhouse_blocking, settings, stop, name=ch_name,
                                    stats=ch_stats, on_batch=on_batch, batch=batch or 4 * BATCH)

        tasks.append(asyncio.create_task(keep_running(ch_name, ch_stats, stop, ch)))
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
    stats: dict[str, ProjectorStats] | None = None,
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
            settings, stop, only=only, prefix=prefix, on_batch=on_batch, batch=batch,
            stats=stats,
        )

    asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m somagent.projections.run")
    parser.add_argument("--only", choices=("postgres", "clickhouse"))
    parser.add_argument("--prefix", default="", help="projector name prefix (positions key)")
    parser.add_argument("--status-file", type=Path, help="positions as JSON after each batch")
    parser.add_argument("--batch", type=int, help="records per batch (transaction / insert)")
    args = parser.parse_args(argv)
    logs.configure()
    run_projectors(
        load_settings(),
        only=args.only,
        prefix=args.prefix,
        status_file=args.status_file,
        batch=args.batch,
    )


class ProjectorLag:
    """Callable: records each projector is behind the log end (``{projector: records}``)."""

    def __init__(self, settings: Settings, stats: dict[str, ProjectorStats]) -> None:
        self.settings = settings
        self.stats = stats
        self._topics = {"postgres": postgres.TOPICS, "clickhouse": chproj.TOPICS}
        #: log ends per projector as of the last call (for the metrics collector)
        self.ends: dict[str, dict[tuple[str, int], int]] = {}

    def __call__(self) -> dict[str, int]:
        from somagent.kafka.admin import end_offsets

        out = {}
        for name, stat in list(self.stats.items()):
            parts = partitions_of(self.settings, self._topics[name])
            ends = end_offsets(self.settings, parts)
            self.ends[name] = dict(ends)
            out[name] = sum(max(0, end - stat.positions.get(tp, 0)) for tp, end in ends.items())
        return out


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
