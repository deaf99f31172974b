"""Errors of the jobs package (all derive from :class:`somagent.exceptions.SomagentError`)."""

from __future__ import annotations

from dataclasses import dataclass

from somagent.exceptions import SomagentError


class JobError(SomagentError):
    """Root of the jobs errors."""


@dataclass(frozen=True)
class SpecProblem:
    """One defect of a job spec: a JSON pointer into the spec and what is wrong there."""

    pointer: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


class InvalidJobSpec(JobError):
    """A job spec fails its schema or its DAG rules; ``problems`` lists every defect."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = problems
        shown = "; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"invalid job spec: {shown}{more}")


class InvalidRoadmap(JobError):
    """A roadmap document cannot be turned into a job (the message names the line)."""


class JobNotFound(JobError):
    """No job with that id is known (or it belongs to another tenant)."""


class JobConflict(JobError):
    """The job is not in a state that allows the request (e.g. approving a step that is not
    waiting, cancelling a finished job); the message says which state it is in."""


class JobsUnavailable(JobError):
    """The workflow service (Temporal) or the jobs workers cannot be reached."""


class StepFailed(JobError):
    """A step's action failed (the message names the job, the step and the reason)."""
