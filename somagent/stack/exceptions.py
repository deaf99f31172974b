"""Errors raised while starting, probing or stopping the local stack."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class StackError(SomagentError):
    """The local stack could not be started, probed or stopped; the message names the component."""


class MissingTool(StackError):
    """A program the stack needs (java, mvn, redis-server, ...) is not installed."""


class PortTaken(StackError):
    """A port the stack wants to listen on is held by another process."""


class StackTimeout(StackError):
    """A component did not become ready before its deadline."""


class Unreachable(StackError):
    """A configured external server could not be reached."""
