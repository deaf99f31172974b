"""A job and its sub-jobs, from the spec alone (pure).

A sub-job's id is a UUIDv5 of its parent's id and step name
(:func:`somagent.jobs.events.child_job_id`), so the whole tree of a job is known from
its spec document; every job of the tree has its own session
(:func:`somagent.jobs.events.job_session`), which carries its events, its turns and
its usage. ``somagent audit --job`` reads the trail of exactly those sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from somagent.jobs.events import child_job_id, job_session


def job_tree(job_id: str, spec: Mapping[str, Any]) -> list[str]:
    """``job_id`` and every sub-job id below it, parents before children."""
    out = [job_id]
    for step in spec.get("steps") or ():
        if isinstance(step, Mapping) and isinstance(step.get("job"), Mapping):
            out += job_tree(child_job_id(job_id, str(step["name"])), step["job"])
    return out


def tree_sessions(job_id: str, spec: Mapping[str, Any]) -> list[str]:
    """The sessions of ``job_id``'s tree (see :func:`job_tree`)."""
    return [job_session(j) for j in job_tree(job_id, spec)]
