"""Errors of the billing package; each names the tenant, window, plan or file involved."""

from __future__ import annotations

from somagent.exceptions import SomagentError


class BillingError(SomagentError):
    """Root of the billing errors."""


class PriceBookError(BillingError):
    """The price book file is missing, malformed, or lacks a plan or price."""


class TooLate(BillingError):
    """Usage arrived after its window's state was evicted (older than the retention)."""
