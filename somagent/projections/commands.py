"""``somagent replay | audit | sql``: replay and verify read models, trails, analysts' SQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from somagent.config import Settings, load_settings
from somagent.exceptions import SomagentError
from somagent.projections.clickhouse import ClickHouse

out = Console(width=200 if not sys.stdout.isatty() else None)
err = Console(stderr=True, width=200)


def _fail(exc: SomagentError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>10.0f} events/s"),
        TimeRemainingColumn(),
        console=err,
    )


def replay(
    projection: Annotated[
        str, typer.Option("--projection", help="postgres, clickhouse or all")
    ] = "all",
    verify: Annotated[bool, typer.Option("--verify", help="compare with the live tables")] = False,
) -> None:
    """Rebuild read models from offset 0 into fresh *_replay tables (and verify them)."""
    import time

    from somagent.projections.replay import replay_clickhouse, replay_postgres

    if projection not in ("postgres", "clickhouse", "all"):
        raise typer.BadParameter("--projection must be postgres, clickhouse or all")
    settings = load_settings()
    reports = []
    try:
        with _progress() as bar:
            for name in ("postgres", "clickhouse"):
                if projection not in (name, "all"):
                    continue
                task = bar.add_task(f"replay {name}", total=None, rate=0.0)
                started = time.monotonic()

                def tick(done: int, total: int, task: Any = task, started: float = started) -> None:
                    rate = done / max(time.monotonic() - started, 1e-6)
                    bar.update(task, completed=done, total=total, rate=rate)

                if name == "postgres":
                    reports.append(
                        asyncio.run(replay_postgres(settings, verify=verify, progress=tick))
                    )
                else:
                    reports.append(replay_clickhouse(settings, verify=verify, progress=tick))
    except SomagentError as exc:
        raise _fail(exc) from exc
    mismatch = False
    for rep in reports:
        out.print(
            f"{rep.projection}: {rep.events} events in {rep.seconds:.2f}s "
            f"({rep.events_per_s:,.0f} events/s)"
        )
        for t in rep.tables:
            state = "equal" if t.equal else "DIFFERENT"
            out.print(
                f"  {t.table}: {state} (live {t.live_rows} rows, checksum {t.live_checksum:016x}; "
                f"replay {t.replay_rows} rows, checksum {t.replay_checksum:016x})",
                highlight=False,
            )
            for label, keys in (
                ("missing", t.missing),
                ("extra", t.extra),
                ("different", t.different),
            ):
                for key in keys[:50]:
                    out.print(f"    {label}: {key}", highlight=False)
            mismatch |= not t.equal
    if mismatch:
        raise typer.Exit(1)


def audit(
    turn: Annotated[str | None, typer.Option("--turn", help="turn id")] = None,
    trace: Annotated[str | None, typer.Option("--trace", help="trace id")] = None,
    job: Annotated[str | None, typer.Option("--job", help="job id (with its sub-jobs)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """The ordered trail of every event of a turn, trace or job, with Kafka positions."""
    from somagent.projections.audit import trail

    if sum(x is not None for x in (turn, trace, job)) != 1:
        raise typer.BadParameter("give exactly one of --turn, --trace or --job")
    try:
        rows = trail(load_settings(), turn=turn, trace=trace, job=job)
    except SomagentError as exc:
        raise _fail(exc) from exc
    if as_json:
        for row in rows:
            print(json.dumps(row, separators=(",", ":"), default=str))
        return
    table = Table("ts_us", "position", "seq", "type", "event_id", "payload")
    for r in rows:
        payload = json.dumps(r["payload"], default=str)
        table.add_row(
            str(r["ts_us"]),
            f"{r['topic']}/{r['partition']}-{r['offset']}",
            str(r["seq"]),
            r["type"],
            r["event_id"],
            payload[:80],
        )
    out.print(table)
    if not rows:
        raise typer.Exit(1)


def sql(
    statement: Annotated[str, typer.Argument(help="one read-only SELECT")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """Analysts' read-only SQL: the analytics service as the operator, or the configured server.

    Works while the platform runs: the analytics service owns the chDB directory and
    answers over ClickHouse's HTTP interface (``SOMAGENT_CLICKHOUSE_HTTP_PORT``).
    """
    from somagent.projections.audit import read_only_sql

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("--format must be table, csv or json")
    try:
        rows = read_only_sql(_analyst_clickhouse(load_settings()), statement)
    except SomagentError as exc:
        raise _fail(exc) from exc
    except Exception as exc:  # the engine's own error (syntax, unknown column) is the user's
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    columns = list(rows[0]) if rows else []
    if fmt == "json":
        for row in rows:
            print(json.dumps(row, default=str))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows([[row[c] for c in columns] for row in rows])
        sys.stdout.write(buf.getvalue())
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*(str(row[c]) for c in columns))
        out.print(table)


def _analyst_clickhouse(settings: Settings) -> ClickHouse:
    """The operator's read-only client of the analytics service, or the configured server."""
    if settings.clickhouse_url:
        from somagent.projections.clickhouse import connect

        return connect(settings)
    from somagent.analytics.connect import analytics_client

    return analytics_client(settings, role="operator")


usage_app = typer.Typer(no_args_is_help=True, help="Usage from the ledger.")


def _utc(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not ISO 8601", param_hint=name) from exc
    if parsed.tzinfo is None:
        raise typer.BadParameter(f"{value!r} needs a time zone (e.g. Z)", param_hint=name)
    return parsed.astimezone(UTC)


@usage_app.command("export")
def usage_export(
    start: Annotated[str | None, typer.Option("--from", help="ISO 8601, inclusive")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO 8601, exclusive")] = None,
    tenant: Annotated[str | None, typer.Option(help="one tenant id (default: all)")] = None,
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Usage ledger rows as CloudEvents (JSON, one per line; ids stable across exports).
    Without --from/--to: the current UTC day."""
    from somagent.projections.usage_export import ledger_rows, to_lines

    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = _utc(start, "--from") or now
    last = _utc(end, "--to") or first + timedelta(days=1)
    if first >= last:
        raise typer.BadParameter("--from must be before --to")
    if tenant is not None:
        try:
            tenant = str(uuid.UUID(tenant))
        except ValueError as exc:
            raise typer.BadParameter(f"{tenant!r} is not a UUID", param_hint="--tenant") from exc
    rows = asyncio.run(ledger_rows(load_settings().postgres_dsn, tenant, first, last))
    text = b"".join(line + b"\n" for line in to_lines(rows))
    if out is None:
        sys.stdout.buffer.write(text)
    else:
        out.write_bytes(text)
        typer.echo(f"{len(rows)} usage events written to {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``replay``, ``audit``, ``sql`` and ``usage export`` to the ``somagent`` command."""
    app.command("replay")(replay)
    app.command("audit")(audit)
    app.command("sql")(sql)
    app.add_typer(usage_app, name="usage")
