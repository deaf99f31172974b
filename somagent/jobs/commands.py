"""``somagent serve jobs`` (the jobs worker role) and ``somagent jobs plan ROADMAP.md``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from somagent.console import fail
from somagent.exceptions import SomagentError


def serve_jobs() -> None:
    """Temporal worker for jobs: workflows, tool steps, turn steps, until SIGTERM/SIGINT."""
    from somagent.config import load_settings
    from somagent.jobs.worker import run_jobs_worker

    run_jobs_worker(load_settings())


def plan(
    roadmap: Annotated[Path, typer.Argument(help="roadmap in Markdown (phases, sprints, items)")],
    tools: Annotated[
        list[str] | None, typer.Option("--tool", help="tool each item's turn may call")
    ] = None,
    approval_timeout_s: Annotated[
        float, typer.Option(help="how long each phase gate waits for its approval")
    ] = 7 * 86_400.0,
) -> None:
    """Print the job spec (JSON) of a roadmap: one turn per item, a gate per phase."""
    from somagent.jobs.plan import plan_text
    from somagent.jobs.validate import check_spec

    try:
        text = roadmap.read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot read {roadmap}: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        doc = plan_text(text, tools=tools or [], approval_timeout_s=approval_timeout_s)
        check_spec(doc)
    except SomagentError as exc:
        raise fail(exc) from exc
    json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def register(app: typer.Typer) -> None:
    from somagent.api.commands import serve_group

    serve_group(app).command("jobs")(serve_jobs)
    jobs = typer.Typer(help="Jobs: DAGs of turns, tools, approvals and sub-jobs on Temporal.",
                       no_args_is_help=True)
    jobs.command("plan")(plan)
    app.add_typer(jobs, name="jobs")
