"""The job DAG: which steps a spec document may have, and in what order they run (pure).

:func:`dag_problems` finds, in a spec document's steps: duplicate names, dependencies
on steps that do not exist, and cycles (each strongly connected component of the
``depends_on`` graph with more than one step, or a step that depends on itself,
reported once with one concrete cycle through it). Every problem names the steps.

:func:`ready` is the scheduling rule the workflow uses: a step is ready when it has
not started and every step it depends on completed; ready steps are returned in
spec order, so a run is deterministic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from somagent.jobs.exceptions import SpecProblem

Graph = Mapping[str, Sequence[str]]


def _strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components in discovery order, nodes in graph order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            edges = [d for d in graph.get(node, ()) if d in graph]
            if child < len(edges):
                work.append((node, child + 1))
                nxt = edges[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                order = list(graph)
                out.append(sorted(component, key=order.index))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _cycle_through(graph: Graph, members: list[str]) -> list[str]:
    """The shortest cycle through the component's first member, closed (``[a, b, a]``).

    Breadth-first from the first member along edges inside the component; the
    component is strongly connected, so the search always gets back to it.
    """
    inside = set(members)
    start = members[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for dep in graph.get(node, ()):
                if dep == start:
                    back = [node]
                    while back[-1] != start:
                        back.append(parent[back[-1]])
                    return [*reversed(back), start]
                if dep in inside and dep not in parent:
                    parent[dep] = node
                    nxt.append(dep)
        frontier = nxt
    raise ValueError(f"steps {members} are not a cycle")


def find_cycles(graph: Graph) -> list[list[str]]:
    """Each cycle of ``graph`` (step → steps it depends on) as a closed path ``[a, b, a]``."""
    cycles = []
    for component in _strongly_connected(graph):
        node = component[0]
        if len(component) > 1 or node in graph.get(node, ()):
            cycles.append(_cycle_through(graph, component))
    return cycles


def dag_problems(steps: Sequence[Mapping[str, Any]], pointer: str = "") -> list[SpecProblem]:
    """Duplicate names, unknown dependencies and cycles among ``steps`` (spec documents)."""
    problems: list[SpecProblem] = []
    first: dict[str, int] = {}
    for i, step in enumerate(steps):
        name = str(step.get("name", ""))
        if name in first:
            problems.append(SpecProblem(
                f"{pointer}/steps/{i}/name",
                f"step name {name!r} is used twice (also /steps/{first[name]})"))
        else:
            first[name] = i
    graph: dict[str, list[str]] = {}
    for i, step in enumerate(steps):
        name = str(step.get("name", ""))
        deps = [str(d) for d in step.get("depends_on") or ()]
        for j, dep in enumerate(deps):
            if dep not in first:
                problems.append(SpecProblem(
                    f"{pointer}/steps/{i}/depends_on/{j}",
                    f"step {name!r} depends on unknown step {dep!r}"))
        graph.setdefault(name, []).extend(d for d in deps if d in first)
    for cycle in find_cycles(graph):
        problems.append(SpecProblem(
            f"{pointer}/steps",
            f"steps {', '.join(sorted(set(cycle)))} form a cycle: "
            f"{' → '.join(cycle)} (each depends on the next)"))
    return problems


def ready(
    order: Sequence[str],
    depends_on: Mapping[str, Collection[str]],
    completed: Collection[str],
    started: Collection[str],
) -> list[str]:
    """Steps (in ``order``) not started whose dependencies all completed."""
    return [
        s for s in order
        if s not in started and all(d in completed for d in depends_on.get(s, ()))
    ]


def descendants(depends_on: Mapping[str, Collection[str]], roots: Collection[str]) -> set[str]:
    """Every step that (transitively) depends on one of ``roots`` (the roots excluded)."""
    out: set[str] = set()
    frontier = set(roots)
    while frontier:
        nxt = {s for s, deps in depends_on.items() if s not in out and frontier & set(deps)}
        nxt -= set(roots)
        out |= nxt
        frontier = nxt
    return out
