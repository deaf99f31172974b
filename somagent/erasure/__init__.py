"""Retention and erasure: per-tenant data keys and crypto-shredding.

* :mod:`somagent.erasure.cipher` — envelope encryption (pure): a tenant's data key
  (DEK, AES-256-GCM) seals text fields; the DEK is stored wrapped by the master
  key (AES-256-GCM, the tenant id as associated data).
* :mod:`somagent.erasure.keys` — the owner of Postgres ``tenant_data_keys``:
  creates a tenant's DEK on first use, unwraps it, destroys it.
* :mod:`somagent.erasure.master` — the master key (``SOMAGENT_HOME/keys`` or env).
* :mod:`somagent.erasure.fields` — which payload fields carry PII; sealing and
  opening one payload (pure).
* :mod:`somagent.erasure.sealer` — the codec's field sealer (``SOMAGENT_SEAL_PII``,
  off by default), with a per-process key cache.
"""
