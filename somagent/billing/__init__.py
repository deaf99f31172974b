"""Billing: one-minute usage windows, the additive ledger, prices and budgets.

``windows``, ``ledger`` and ``pricebook`` are pure (no I/O); ``budget`` holds the
Redis reconciliation adapter. The Kafka worker lives in ``somagent.streams.billing``.
"""
