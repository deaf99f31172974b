-- Artifacts (memory capsules and marketplace agents), issue 15.
--
-- signing_keys and artifact_blobs are written by the edge (like tenants);
-- artifacts, artifact_versions and agent_installs are read models projected from
-- CapsuleUploaded/CapsuleRevoked (memory.events) and Agent* (artifacts.events) by
-- the Postgres projector, and rebuilt by `somagent replay --verify`. The edge also
-- applies its own events to them right after the append (same idempotent fold,
-- guarded by last_seq), so a client reads its own writes.

CREATE TABLE IF NOT EXISTS signing_keys (
    tenant_id      uuid        NOT NULL REFERENCES tenants (tenant_id),
    key_id         text        NOT NULL,           -- RFC 7638 thumbprint
    algorithm      text        NOT NULL DEFAULT 'ed25519',
    public_key_pem text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    PRIMARY KEY (tenant_id, key_id)
);

CREATE TABLE IF NOT EXISTS artifact_blobs (
    blob_key       text        PRIMARY KEY,        -- sha256/<hex of body>
    body           bytea       NOT NULL,
    size_bytes     bigint      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS artifacts (
    kind           text        NOT NULL CHECK (kind IN ('capsule', 'agent')),
    artifact_id    text        NOT NULL,
    tenant_id      uuid        NOT NULL,           -- owner (publisher)
    name           text        NOT NULL,
    latest_version text        NOT NULL,
    status         text        NOT NULL,           -- active | revoked
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoke_reason  text,
    last_seq       bigint      NOT NULL,           -- the artifact's event counter
    PRIMARY KEY (kind, artifact_id)
);

CREATE TABLE IF NOT EXISTS artifact_versions (
    kind            text        NOT NULL,
    artifact_id     text        NOT NULL,
    version         text        NOT NULL,
    tenant_id       uuid        NOT NULL,
    sha256          text        NOT NULL,          -- RFC 8785 canonical form
    size_bytes      bigint      NOT NULL,
    key_id          text        NOT NULL,
    blob_key        text        NOT NULL,
    name            text        NOT NULL,
    persona_hash    text,
    policy_hash     text,
    tools           text[]      NOT NULL DEFAULT '{}',
    capsule_ids     text[]      NOT NULL DEFAULT '{}',
    memory_count    bigint      NOT NULL DEFAULT 0,
    sbom_components bigint      NOT NULL DEFAULT 0,
    sla_ms          bigint,                        -- agents: planner.sla_ms
    created_at      timestamptz NOT NULL,
    event_id        uuid        NOT NULL,
    PRIMARY KEY (kind, artifact_id, version)
);

CREATE TABLE IF NOT EXISTS agent_installs (
    tenant_id      uuid        NOT NULL,
    agent_id       text        NOT NULL,
    version        text        NOT NULL,
    auto_update    boolean     NOT NULL,
    status         text        NOT NULL,           -- installed | uninstalled | revoked
    capsule_ids    text[]      NOT NULL DEFAULT '{}',
    updated_at     timestamptz NOT NULL,
    last_seq       bigint      NOT NULL,
    PRIMARY KEY (tenant_id, agent_id)
);
CREATE INDEX IF NOT EXISTS ix_agent_installs_agent ON agent_installs (agent_id);
