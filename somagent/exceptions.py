"""The root of every error SomaGent raises on purpose.

Each subpackage has its own ``exceptions.py`` whose classes derive from
:class:`SomagentError`, so callers can catch one type at the edge of the system.
Messages name the topic, partition, key, tenant or component involved.
"""

from __future__ import annotations


class SomagentError(Exception):
    """Root of all SomaGent errors."""


class ConfigError(SomagentError):
    """A setting is missing, malformed or inconsistent; the message names the variable."""


class StopWaiting(SomagentError):
    """Raised by a probe of :func:`somagent.wait.until`: waiting longer cannot help
    (e.g. the server being waited for died). Ends the wait at once."""


class DeadlineExceeded(StopWaiting):
    """A condition did not hold before its deadline; the message says which."""
