"""Redis guards shared by the edge and the tool broker.

* :mod:`somagent.limits.ratelimit` — sliding-window rate limit per ``rate:{tenant}:{tool}``.
* :mod:`somagent.limits.budget` — the owner of ``sess:{session}``: atomic token
  budget pre-authorisation (edge) and reconciliation from the ledger (projector).
* :mod:`somagent.limits.idempotency` — first-writer-wins claims under ``idem:`` keys.
* :mod:`somagent.limits.tenant_tokens` — the owner of ``tpm:{tenant}``: tokens per
  minute per tenant (token bucket).
* :mod:`somagent.limits.concurrency` — the owner of ``conc:{tenant}``: concurrent turns
  per tenant (slots that lapse at the turn's deadline).

Each guard is one Lua script (or one ``SET NX``) so it is atomic across every
process that shares the Redis server; the Protocols in :mod:`somagent.limits.base`
are what callers depend on.
"""
