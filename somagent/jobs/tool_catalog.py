"""The tools a job may name, as the edge checks them before anything starts.

The same set the jobs workers' broker has (:func:`somagent.serve.tool_wiring.tool_registry`):
the built-ins (``calc``, ``python``, ``memory.search``, ``sql``) and the tools of the
``somagent.tools`` entry-point group. Only their specs are read here; nothing runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from somagent.tools import calc, memory_search, python_tool, sql_tool
from somagent.tools.registry import ToolRegistry
from somagent.tools.spec import ToolSpec


@cache
def tool_specs() -> Mapping[str, ToolSpec]:
    """Every tool spec by name (entry points loaded once per process)."""
    plugins = ToolRegistry()
    plugins.load_entry_points()
    specs = [calc.SPEC, python_tool.SPEC, memory_search.SPEC, sql_tool.sql_spec(),
             *plugins.specs()]
    return {s.name: s for s in specs}


def tool_arg_schemas() -> dict[str, Mapping[str, Any]]:
    """Tool name → its argument schema (what :func:`somagent.jobs.validate.check_spec` takes)."""
    return {name: spec.args_schema for name, spec in tool_specs().items()}
