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
