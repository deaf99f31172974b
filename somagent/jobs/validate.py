"""Checking a job spec document before anything starts (pure: no I/O).

:func:`check_spec` runs, in order, and reports every defect it finds:

1. the JSON Schema (:data:`somagent.jobs.schema.JOB_SPEC`), each violation with its
   JSON pointer; a step with none or several of turn/tool/approval/job gets one
   clear message instead of the schema's ``oneOf`` wording;
2. the DAG of every job and sub-job: duplicate names, unknown dependencies, cycles
   (:func:`somagent.jobs.dag.dag_problems`);
3. sub-job nesting at most :data:`~somagent.jobs.schema.MAX_DEPTH` deep;
4. tools: every tool step and tool compensation names a known tool and its
   arguments match the tool's argument schema (when ``tools`` is given).

It raises :class:`~somagent.jobs.exceptions.InvalidJobSpec` listing them all, or
returns the typed :class:`~somagent.jobs.spec.JobSpec`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from somagent.jobs.dag import dag_problems
from somagent.jobs.exceptions import InvalidJobSpec, SpecProblem
from somagent.jobs.schema import JOB_SPEC, MAX_DEPTH, STEP_KINDS
from somagent.jobs.spec import JobSpec, build_spec

_VALIDATOR = Draft202012Validator(JOB_SPEC)
ToolSchemas = Mapping[str, Mapping[str, Any]]


def _pointer(path: Any) -> str:
    return "".join(f"/{p}" for p in path)


def _schema_problems(doc: Any) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for error in sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        problems.append(SpecProblem(_pointer(error.absolute_path), _message(error)))
    return problems


def _message(error: ValidationError) -> str:
    instance = error.instance
    if error.validator == "oneOf" and isinstance(instance, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        kinds = STEP_KINDS if "approval" in schema.get("properties", {}) else ("turn", "tool")
        present = [k for k in kinds if k in instance]
        what = f"step {instance.get('name')!r}" if "name" in instance else "compensate"
        return (f"{what} must have exactly one of {', '.join(kinds)}; "
                f"it has {', '.join(present) if present else 'none'}")
    return error.message


def _jobs(doc: Mapping[str, Any], pointer: str, depth: int) -> Iterator[tuple[Mapping[str, Any],
                                                                            str, int]]:
    """This job document and every sub-job document, with their pointers and depths."""
    yield doc, pointer, depth
    for i, step in enumerate(doc.get("steps") or ()):
        if isinstance(step, Mapping) and isinstance(step.get("job"), Mapping):
            yield from _jobs(step["job"], f"{pointer}/steps/{i}/job", depth + 1)


def _tool_problems(step: Mapping[str, Any], pointer: str, tools: ToolSchemas) -> list[SpecProblem]:
    out = []
    calls = [(step.get("tool"), f"{pointer}/tool")]
    compensate = step.get("compensate")
    if isinstance(compensate, Mapping):
        calls.append((compensate.get("tool"), f"{pointer}/compensate/tool"))
    for call, where in calls:
        if not isinstance(call, Mapping):
            continue
        name = str(call.get("name"))
        if name not in tools:
            out.append(SpecProblem(f"{where}/name",
                                   f"unknown tool {name!r}; known: {', '.join(sorted(tools))}"))
            continue
        validator = Draft202012Validator(dict(tools[name]))
        for error in validator.iter_errors(dict(call.get("arguments") or {})):
            out.append(SpecProblem(f"{where}/arguments{_pointer(error.absolute_path)}",
                                   f"{name}: {error.message}"))
    return out


def check_spec(doc: Any, tools: ToolSchemas | None = None) -> JobSpec:
    """The typed spec of ``doc``, or :class:`InvalidJobSpec` with every problem found.

    ``tools`` maps tool names to their argument schemas; ``None`` skips check 4.
    """
    problems = _schema_problems(doc)
    if problems:
        raise InvalidJobSpec(problems)
    assert isinstance(doc, Mapping)
    for job, pointer, depth in _jobs(doc, "", 0):
        if depth > MAX_DEPTH:
            problems.append(SpecProblem(pointer, f"sub-jobs nest {depth} deep; at most "
                                                 f"{MAX_DEPTH} levels are allowed"))
            continue
        problems += dag_problems(job["steps"], pointer)
        if tools is not None:
            for i, step in enumerate(job["steps"]):
                problems += _tool_problems(step, f"{pointer}/steps/{i}", tools)
    if problems:
        raise InvalidJobSpec(problems)
    return build_spec(doc)
