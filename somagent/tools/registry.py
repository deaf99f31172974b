"""The tool registry: built-ins plus tools that register through Python entry points.

A distribution adds tools by declaring entry points in the ``somagent.tools``
group; each entry point loads to a :class:`~somagent.tools.spec.Tool`, or a
callable returning a ``Tool`` or an iterable of them::

    [project.entry-points."somagent.tools"]
    weather = "acme_tools:weather_tool"
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from typing import Any, Final

from somagent.tools.calc import calc_tool
from somagent.tools.exceptions import DuplicateTool, ToolError, UnknownTool
from somagent.tools.http_fetch import http_fetch_tool
from somagent.tools.isolation import Isolation
from somagent.tools.memory_search import Recall, memory_search_tool
from somagent.tools.python_tool import DEFAULT_ISOLATION, python_tool
from somagent.tools.sandbox import SandboxLimits
from somagent.tools.spec import Tool, ToolSpec
from somagent.tools.sql_tool import TenantConnect, sql_tool

ENTRY_POINT_GROUP: Final = "somagent.tools"


def _as_tools(obj: Any, where: str) -> list[Tool]:
    if isinstance(obj, Tool):
        return [obj]
    if callable(obj):
        obj = obj()
        if isinstance(obj, Tool):
            return [obj]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        tools = list(obj)
        if all(isinstance(t, Tool) for t in tools):
            return tools
    raise ToolError(f"entry point {where} did not give a Tool (got {type(obj).__name__})")


class ToolRegistry:
    """Tools by name. Registration is explicit; a name is registered at most once."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool, *, replace: bool = False) -> None:
        if tool.name in self._tools and not replace:
            raise DuplicateTool(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(
                f"no tool named {name!r}; registered: {sorted(self._tools)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools[n] for n in sorted(self._tools))

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self, names: Iterable[str] | None = None) -> list[ToolSpec]:
        """Specs of all tools, or of ``names`` that are registered, sorted by name."""
        chosen = sorted(self._tools) if names is None else sorted(set(names) & set(self._tools))
        return [self._tools[n].spec for n in chosen]

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Register every tool advertised in ``group``; returns the names added.

        Raises :class:`ToolError` naming the entry point if one fails to load or
        gives something that is not a tool, and :class:`DuplicateTool` on a clash.
        """
        added = []
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            where = f"{ep.name} = {ep.value} ({group})"
            try:
                loaded = ep.load()
            except Exception as exc:
                raise ToolError(f"entry point {where} failed to load: {exc!r}") from exc
            for tool in _as_tools(loaded, where):
                self.register(tool)
                added.append(tool.name)
        return added

    @classmethod
    def with_builtins(
        cls,
        *,
        recall: Recall | None = None,
        sql: TenantConnect | None = None,
        python_limits: SandboxLimits | None = None,
        python_isolation: Isolation | None = DEFAULT_ISOLATION,
        load_plugins: bool = True,
    ) -> ToolRegistry:
        """``calc``, ``python`` and ``http_fetch`` (egress only to hosts a policy allows)
        always; ``memory.search`` with a ``recall``;
        ``sql`` with tenant-scoped analytics clients (``sql_tool.analytics_connect``);
        then entry-point plugins. ``python_isolation`` None runs snippets without
        namespaces (resource limits only)."""
        reg = cls([calc_tool(), python_tool(python_limits, python_isolation), http_fetch_tool()])
        if recall is not None:
            reg.register(memory_search_tool(recall))
        if sql is not None:
            reg.register(sql_tool(sql))
        if load_plugins:
            reg.load_entry_points()
        return reg
