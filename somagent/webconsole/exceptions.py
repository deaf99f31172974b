"""Errors of the console."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class ConsoleError(SomagentError):
    """The console could not do what was asked."""


class BadConsoleCookie(ConsoleError):
    """A console cookie is malformed, forged or expired."""
