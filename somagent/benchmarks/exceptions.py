"""Errors of the benchmark runner."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class BenchError(SomagentError):
    """A benchmark could not be run or its output not read; the message names the script."""
