"""Artifacts: signed, versioned, content-addressed bundles (memory capsules and
marketplace agents) on one model.

* :mod:`canonical` – parse JSON/YAML, RFC 8785 canonical form, sha256 digest (pure);
* :mod:`signing` – DSSE envelopes with Ed25519 keys (securesystemslib), key ids
  are RFC 7638 thumbprints (pure);
* :mod:`documents` – the capsule and agent-manifest formats (pure);
* :mod:`sbom` – CycloneDX SBOMs of an agent's tool dependencies (cyclonedx-python-lib);
* :mod:`projection` – events to read-model rows (pure fold + Postgres apply);
* :mod:`ranking` – the performance ranking formula (pure) and its ClickHouse query;
* :mod:`blobs` – the object store (S3-compatible server, or Postgres);
* :mod:`registry` – Postgres reads and the signing-key table;
* :mod:`service`, :mod:`capsules`, :mod:`agents` – the operations behind the edge routes.
"""
