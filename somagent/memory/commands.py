"""``somagent serve memory``: the Memory Gateway (owner of the vector store)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_memory(loglevel: Annotated[str, typer.Option(help="log level")] = "info") -> None:
    """The Memory Gateway: vector store owner, memory agent, recall/remember over HTTP."""
    from somagent.config import load_settings
    from somagent.memory.service import run_gateway

    run_gateway(load_settings(), loglevel=loglevel)


def register(app: typer.Typer) -> None:
    from somagent.api.commands import serve_group

    serve_group(app).command("memory")(serve_memory)
