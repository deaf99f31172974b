"""Plans and entitlements: what each tenant's plan allows (pure), and QoS lanes.

* :mod:`somagent.plans.limits` — plan defaults, the per-tenant overrides stored in
  Postgres ``tenants.limits`` / ``tenants.billing_profile``, and the clamp applied
  to a session's requested budgets at mint (pure, no I/O).

The Redis guards that enforce the per-minute and concurrency limits live in
:mod:`somagent.limits` (one owner per Redis key).
"""
