"""``somagent bench``: run every ``bench/*.py`` and write one report (JSON, Markdown, PNG).

Registered on the CLI by :func:`register` (``somagent.cli`` imports this module).
``bench/turns.py`` drives the stack ``somagent up`` started (settings from the
environment); the others start what they need themselves. Exit status 1 when any
script failed (the report still lists every figure that was measured).
"""

from __future__ import annotations

import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

REPO = Path(__file__).resolve().parents[1]


def _utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="smaller runs (about 10 minutes)")] = False,
    only: Annotated[str, typer.Option(help="comma-separated script names, e.g. turns,codec")] = "",
    timeout_s: Annotated[float, typer.Option(help="limit per script, seconds")] = 0.0,
    out: Annotated[Path, typer.Option(help="report folder")] = REPO / "bench" / "out",
    docs: Annotated[bool, typer.Option(help="also update docs/performance.md")] = True,
) -> None:
    """Run every bench/*.py against the real local stack; write report.json, report.md, PNGs."""
    from somagent.benchmarks.exceptions import BenchError
    from somagent.benchmarks.plots import write_plots
    from somagent.benchmarks.report import (
        BEGIN,
        build_report,
        machine_info,
        render_markdown,
        replace_section,
        write_report,
    )
    from somagent.benchmarks.runner import ScriptResult, discover, run_all

    try:
        scripts = discover(REPO / "bench", [s for s in only.split(",") if s])
    except BenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    limit_s = timeout_s or (300.0 if quick else 1800.0)
    started = _utc()

    def on_start(path: Path, args: list[str]) -> None:
        typer.echo(f"[{_utc()}] bench/{path.name} {' '.join(args)}", err=True)

    def on_done(r: ScriptResult) -> None:
        status = "ok" if r.ok else f"FAILED ({r.error})"
        typer.echo(f"[{_utc()}]   {r.name}: {status} in {r.seconds:.0f} s", err=True)

    t0 = time.monotonic()
    results = run_all(scripts, quick=quick, timeout_s=limit_s, cwd=REPO,
                      on_start=on_start, on_done=on_done)
    command = "somagent bench" + (" --quick" if quick else "") + (
        f" --only {shlex.quote(only)}" if only else "")
    report = build_report([r.to_dict() for r in results], machine=machine_info(),
                          started_at=started, finished_at=_utc(), command=command, quick=quick)
    markdown = render_markdown(report)
    docs_file = REPO / "docs" / "performance.md" if docs else None
    written = write_report(report, markdown, out, docs_file)
    readme = REPO / "README.md"
    if docs and BEGIN in readme.read_text():  # README's Performance table, same markers
        readme.write_text(replace_section(readme.read_text(), markdown))
        written.append(readme)
    written += write_plots(report, out)
    sys.stdout.write(markdown)
    typer.echo(f"wrote {', '.join(str(p) for p in written)} in {time.monotonic() - t0:.0f} s",
               err=True)
    if not report["ok"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command to ``app``."""
    app.command(name="bench")(bench)
