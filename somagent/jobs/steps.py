"""How a step's failure is described (pure; imported by the workflow and the activities).

An activity fails a step by raising ``ApplicationError(message, {"attempt": n},
type=<reason code>)``; :func:`activity_failure` turns what the workflow receives (an
``ActivityError`` around that, or around a timeout) back into a :class:`StepError`.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutError,
)

from somagent.jobs.exceptions import StepFailed


class StepError(StepFailed):
    """A step (or compensation) failed for good: ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str, attempts: int) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.attempts = attempts


def fail_step(reason: str, message: str, attempt: int, *, permanent: bool = False) -> \
        ApplicationError:
    """The error an activity raises to fail its attempt (``permanent``: no retry)."""
    return ApplicationError(message, {"attempt": attempt}, type=reason, non_retryable=permanent)


def _attempt(error: ApplicationError, default: int) -> int:
    details: Any = error.details
    if details and isinstance(details[0], dict):
        return int(details[0].get("attempt", default))
    return default


def activity_failure(exc: BaseException, max_attempts: int) -> StepError:
    """The :class:`StepError` of what ``execute_activity`` (or a child workflow) raised."""
    if isinstance(exc, StepError):
        return exc
    cause = exc.cause if isinstance(exc, ActivityError | ChildWorkflowError) else exc
    if isinstance(exc, ChildWorkflowError):
        return StepError("sub-job-failed", str(cause or exc), 1)
    if isinstance(cause, ApplicationError):
        return StepError(cause.type or "error", cause.message, _attempt(cause, max_attempts))
    if isinstance(cause, TimeoutError):
        return StepError("timeout", f"no result within the step's limit ({cause.type})",
                         max_attempts)
    return StepError("error", f"{type(exc).__name__}: {exc}", max_attempts)
