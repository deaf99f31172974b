"""Reading a roadmap written like the seed's own (pure: text in, values out).

The format, in Markdown::

    # Roadmap: <title>
    ## Phase 1 — Foundations (4 weeks)
    ### Sprint 1 — Event backbone (2 weeks)
    **Team focus:** platform, data
    - Kafka topics and the Avro contract
    - Postgres projections

* A phase is a heading whose text starts with ``Phase``; a sprint, a deeper heading
  whose text starts with ``Sprint``. Their durations are the first
  ``(<n> day|week|month[s])`` in the heading, or a ``Duration: <n> weeks`` line.
* ``Team focus: ...`` (bold or not) under a sprint (or phase) names who works on it.
* Bullets (``-``, ``*``, ``+`` or ``1.``) under a sprint are its items; bullets under a
  phase before its first sprint form an implicit sprint of that phase.
* Any other text is description and is ignored. A bullet before the first phase, or
  a roadmap without items, is an error naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from somagent.jobs.exceptions import InvalidRoadmap

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_PHASE = re.compile(r"^phase\s+([0-9A-Za-z.]+)\s*[:.—–-]?\s*(.*)$", re.IGNORECASE)
_SPRINT = re.compile(r"^sprint\s+([0-9A-Za-z.]+)\s*[:.—–-]?\s*(.*)$", re.IGNORECASE)
_DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*(days?|d|weeks?|wks?|w|months?|mos?)\b", re.IGNORECASE
)
_PAREN_DURATION = re.compile(r"\(\s*(\d+(?:\.\d+)?\s*[A-Za-z]+)\s*\)")
_DURATION_LINE = re.compile(r"^\**\s*duration\s*:?\**\s*:?\s*(.+)$", re.IGNORECASE)
_FOCUS = re.compile(r"^[*_]*\s*team\s+focus\s*[*_]*\s*:\s*[*_]*\s*(.*?)\s*$", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.+?)\s*$")
_UNIT_DAYS = {"d": 1.0, "w": 7.0, "m": 30.0}


def duration_days(text: str) -> float | None:
    """Days of the first duration in ``text`` (a month is 30 days), or None."""
    found = _DURATION.search(text)
    if not found:
        return None
    unit = found.group(2).lower()
    return float(found.group(1)) * _UNIT_DAYS["m" if unit.startswith("mo") else unit[0]]


def _title_and_duration(text: str) -> tuple[str, float | None]:
    paren = _PAREN_DURATION.search(text)
    if paren and duration_days(paren.group(1)) is not None:
        title = (text[: paren.start()] + text[paren.end():]).strip(" —–-:")
        return title.strip(), duration_days(paren.group(1))
    return text.strip(" —–-:"), None


@dataclass
class Sprint:
    number: str
    title: str
    duration_days: float | None = None
    focus: str = ""
    items: list[str] = field(default_factory=list)


@dataclass
class Phase:
    number: str
    title: str
    duration_days: float | None = None
    focus: str = ""
    sprints: list[Sprint] = field(default_factory=list)


@dataclass
class Roadmap:
    title: str
    phases: list[Phase]

    @property
    def items(self) -> int:
        return sum(len(s.items) for p in self.phases for s in p.sprints)


def _heading(state: _State, level: int, text: str, line_no: int) -> None:
    phase, sprint = _PHASE.match(text), _SPRINT.match(text)
    if phase:
        title, days = _title_and_duration(phase.group(2))
        state.phases.append(Phase(phase.group(1), title, days))
        state.sprint = None
    elif sprint:
        if not state.phases:
            raise InvalidRoadmap(f"line {line_no}: sprint {text!r} comes before any phase")
        title, days = _title_and_duration(sprint.group(2))
        state.sprint = Sprint(sprint.group(1), title, days)
        state.phases[-1].sprints.append(state.sprint)
    elif level == 1 and not state.title:
        state.title = re.sub(r"^roadmap\s*[:—–-]?\s*", "", text, flags=re.IGNORECASE) or text
    else:
        state.sprint = state.sprint if level > 3 else None


@dataclass
class _State:
    title: str = ""
    phases: list[Phase] = field(default_factory=list)
    sprint: Sprint | None = None


def _line(state: _State, raw: str, line_no: int) -> None:
    heading = _HEADING.match(raw)
    if heading:
        _heading(state, len(heading.group(1)), heading.group(2), line_no)
        return
    text = raw.strip()
    focus, duration, bullet = _FOCUS.match(text), _DURATION_LINE.match(text), _BULLET.match(raw)
    target: Sprint | Phase | None = state.sprint or (state.phases[-1] if state.phases else None)
    if focus and target is not None:
        target.focus = focus.group(1).strip("*_ ")
    elif duration and target is not None and target.duration_days is None:
        target.duration_days = duration_days(duration.group(1))
    elif bullet:
        if not state.phases:
            raise InvalidRoadmap(f"line {line_no}: item {bullet.group(1)!r} is before any phase")
        if state.sprint is None:
            phase = state.phases[-1]
            state.sprint = Sprint("0", f"{phase.title} (phase items)",
                                  None, phase.focus)
            phase.sprints.append(state.sprint)
        state.sprint.items.append(bullet.group(1).strip())


def parse_roadmap(text: str) -> Roadmap:
    """The phases, sprints and items of ``text`` (see the module doc for the format)."""
    state = _State()
    in_code = False
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if raw.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if not in_code and raw.strip():
            _line(state, raw, line_no)
    roadmap = Roadmap(state.title or "roadmap", state.phases)
    if not roadmap.phases:
        raise InvalidRoadmap("the roadmap has no phase (a heading starting with 'Phase')")
    if roadmap.items == 0:
        raise InvalidRoadmap("the roadmap has no items (bullets under its sprints)")
    for phase in roadmap.phases:
        for sprint in phase.sprints:
            sprint.focus = sprint.focus or phase.focus
    return roadmap
