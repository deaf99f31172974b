-- Core operational read models. Applied once by `somagent up` (tracked in
-- schema_migrations); every later change is a new numbered file.

CREATE TABLE IF NOT EXISTS tenants (
    tenant_id      uuid PRIMARY KEY,
    name           text        NOT NULL,
    plan           text        NOT NULL DEFAULT 'free',
    residency      text        NOT NULL DEFAULT 'eu' CHECK (residency IN ('eu', 'us')),
    api_key_hash   text        NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz
);

CREATE TABLE IF NOT EXISTS sessions (
    session_id     uuid PRIMARY KEY,
    tenant_id      uuid        NOT NULL REFERENCES tenants (tenant_id),
    persona_hash   text        NOT NULL,
    policy_hash    text        NOT NULL,
    token_budget   bigint      NOT NULL CHECK (token_budget >= 0),
    tools_per_min  bigint      NOT NULL CHECK (tools_per_min >= 0),
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_sessions_tenant ON sessions (tenant_id);

CREATE TABLE IF NOT EXISTS turns (
    turn_id        uuid PRIMARY KEY,
    session_id     uuid        NOT NULL,
    tenant_id      uuid        NOT NULL,
    status         text        NOT NULL,
    step           text        NOT NULL,
    steps_done     integer     NOT NULL DEFAULT 0,
    tool_calls     integer     NOT NULL DEFAULT 0,
    requested_at   timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    failure_reason text
);
CREATE INDEX IF NOT EXISTS ix_turns_session ON turns (session_id);

-- One row per closed one-minute window per (tenant, agent, session) and revision;
-- corrections for late usage are further revisions, so the ledger is additive.
CREATE TABLE IF NOT EXISTS usage_ledger (
    tenant_id      uuid        NOT NULL,
    agent          text        NOT NULL,
    session_id     uuid        NOT NULL,
    minute         timestamptz NOT NULL,
    revision       integer     NOT NULL DEFAULT 0,
    tokens         bigint      NOT NULL DEFAULT 0,
    tool_calls     bigint      NOT NULL DEFAULT 0,
    storage_bytes  bigint      NOT NULL DEFAULT 0,
    egress_bytes   bigint      NOT NULL DEFAULT 0,
    cost_cents     bigint      NOT NULL DEFAULT 0,
    is_correction  boolean     NOT NULL DEFAULT false,
    event_id       uuid        NOT NULL,
    CONSTRAINT uq_ledger_window UNIQUE (tenant_id, agent, session_id, minute, revision)
);
CREATE INDEX IF NOT EXISTS ix_ledger_tenant_minute ON usage_ledger (tenant_id, minute);

-- Where each projector stands in each partition; written in the same
-- transaction as the rows it produced.
CREATE TABLE IF NOT EXISTS projector_positions (
    projector      text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    next_offset    bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projector, topic, partition)
);
