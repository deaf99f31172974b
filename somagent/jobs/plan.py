"""Roadmap → job spec: the deterministic planner (pure; the seed's KAMACHIQ mode).

One turn step per roadmap item; every item of a sprint depends on every item of the
sprint before it in the same phase (items of one sprint run in parallel); each phase
ends with an approval gate that depends on its last sprint's items, and the first
sprint of the next phase depends on that gate. Equal text gives an equal spec, byte
for byte: names come from the numbering and the item's words, nothing is random.

Step names: ``p<phase>-s<sprint>-<nn>-<slug of the item>`` (at most 64 characters)
and ``gate-p<phase>``. The turn text carries the item, its phase and sprint (with
their durations) and the team focus, so the turn engine sees the context.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from somagent.jobs.roadmap import Phase, Roadmap, Sprint, parse_roadmap

DEFAULT_GATE_TIMEOUT_S: Final = 7 * 86_400.0
PLANNER: Final = "deterministic"
_NAME_MAX = 64


def _slug(text: str, room: int) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:room].rstrip("-") or "item"


def _token(number: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", number).strip("_") or "0"


def _days(days: float | None) -> str:
    if days is None:
        return "duration not given"
    return f"{days:g} days"


def _item_step(phase: Phase, sprint: Sprint, index: int, item: str, deps: list[str],
               tools: Sequence[str]) -> dict[str, Any]:
    prefix = f"p{_token(phase.number)}-s{_token(sprint.number)}-{index + 1:02d}-"
    name = prefix + _slug(item, _NAME_MAX - len(prefix))
    context = (
        f"Phase {phase.number}: {phase.title} ({_days(phase.duration_days)}). "
        f"Sprint {sprint.number}: {sprint.title} ({_days(sprint.duration_days)})."
    )
    if sprint.focus:
        context += f" Team focus: {sprint.focus}."
    turn: dict[str, Any] = {"text": f"{item}\n\n{context}"}
    if tools:
        turn["allow"] = {"tools": list(tools)}
    step: dict[str, Any] = {"name": name, "turn": turn}
    if deps:
        step["depends_on"] = list(deps)
    return step


def plan_roadmap(
    roadmap: Roadmap,
    *,
    tools: Sequence[str] = (),
    approval_timeout_s: float = DEFAULT_GATE_TIMEOUT_S,
) -> dict[str, Any]:
    """The job spec document of ``roadmap`` (see the module doc for the rules)."""
    steps: list[dict[str, Any]] = []
    previous: list[str] = []  # what the next sprint waits for
    for phase in roadmap.phases:
        for sprint in phase.sprints:
            if not sprint.items:
                continue
            names = []
            for i, item in enumerate(sprint.items):
                step = _item_step(phase, sprint, i, item, previous, tools)
                steps.append(step)
                names.append(step["name"])
            previous = names
        if not previous:
            continue
        gate = f"gate-p{_token(phase.number)}"
        steps.append({
            "name": gate,
            "depends_on": list(previous),
            "approval": {
                "prompt": f"Phase {phase.number} ({phase.title}) is done: approve to go on.",
                "timeout_s": approval_timeout_s,
                "on_timeout": "reject",
            },
        })
        previous = [gate]
    return {"name": f"roadmap: {roadmap.title}"[:128], "steps": steps}


def plan_text(text: str, **options: Any) -> dict[str, Any]:
    """:func:`plan_roadmap` of the roadmap in ``text`` (Markdown, see ``roadmap``)."""
    return plan_roadmap(parse_roadmap(text), **options)
