"""Billing: one-minute usage windows, the additive ledger and prices, and the two engines.

Pure (no I/O, no clock, no environment; import-linter keeps them so):
:mod:`~somagent.billing.windows`, :mod:`~somagent.billing.ledger`,
:mod:`~somagent.billing.partition`, :mod:`~somagent.billing.pricebook`,
:mod:`~somagent.billing.usage` and :mod:`~somagent.billing.exceptions`.

Engines, beside them (``billing.usage`` → windows → ``billing.ledger``):
:mod:`~somagent.billing.agent` (the Faust ``billing`` agent, the default) and
:mod:`~somagent.billing.worker` (the transactional worker,
``SOMAGENT_BILLING_ENGINE=transactional``); what both share is
:mod:`~somagent.billing.state` (window-state changelog, configuration),
:mod:`~somagent.billing.plans` (tenant plans from Postgres) and
:mod:`~somagent.billing.pricebook_file` (reading the price book).

The ``sess:{session}`` budget hash that the ledger reconciles is owned by
:mod:`somagent.limits.budget`.
"""
