"""Errors raised while starting, probing or stopping the local stack."""

from __future__ import annotations

from somagent.exceptions import StopWaiting


class StackError(StopWaiting):
    """The local stack could not be started, probed or stopped; the message names the component.

    A verdict: a wait (:func:`somagent.wait.until`) whose probe raises it ends at once.
    """


class MissingTool(StackError):
    """A program the stack needs (java, mvn, redis-server, ...) is not installed."""


class PortTaken(StackError):
    """A port the stack wants to listen on is held by another process."""


class Unreachable(StackError):
    """A configured external server could not be reached."""
