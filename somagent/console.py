"""Where the ``somagent`` commands print: one console for output, one for errors."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from somagent.exceptions import SomagentError

# Wide enough that addresses and versions are not folded when output is piped.
err = Console(stderr=True, width=200)
out = Console(width=200 if not sys.stdout.isatty() else None)


def fail(exc: SomagentError) -> typer.Exit:
    """Print ``exc`` as one ``error:`` line on stderr; the exit (status 1) to raise."""
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(1)
