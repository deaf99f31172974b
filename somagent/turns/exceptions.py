"""Errors raised by the pure turn state machine."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class TurnError(SomagentError):
    """Root of turn-engine errors; messages name the turn and step involved."""


class InvalidTransition(TurnError):
    """An outcome was offered for a step the turn is not in (a wiring bug, not bad input)."""


class InvalidTurnState(TurnError):
    """A stored turn state could not be decoded (missing or malformed field)."""
