"""Errors of the edge (besides HTTP problems, which are :class:`~somagent.api.problems.Problem`)."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class ApiError(SomagentError):
    """Root of the edge's errors."""


class KeyStoreError(ApiError):
    """The signing key directory is unreadable or holds a malformed key; names the path."""


class TenantError(ApiError):
    """Creating or listing tenants failed; the message names the tenant and database."""
