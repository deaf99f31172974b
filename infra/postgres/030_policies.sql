-- The constitution (issue 16): policies by hash and their activation signatures.
--
-- Read models projected from policy.events (PolicyRegistered, PolicySigned,
-- PolicyActivated, PolicyRevoked) by the Postgres projector and rebuilt by
-- `somagent replay --verify`; the edge (and the stack's bootstrap) also apply their
-- own events right after the append (the same idempotent fold), so a client that
-- activated a policy can mint against it at once. A version never changes: a new
-- document is a new hash. Status only moves registered -> active -> revoked
-- (or registered -> revoked).

CREATE TABLE IF NOT EXISTS policies (
    policy_hash    text        PRIMARY KEY,        -- sha256-<hex> of the RFC 8785 form
    name           text        NOT NULL,
    version        text        NOT NULL,
    document       text        NOT NULL,           -- the canonical JSON the hash covers
    status         text        NOT NULL DEFAULT 'registered'
                               CHECK (status IN ('registered', 'active', 'revoked')),
    principal      text        NOT NULL DEFAULT '',
    registered_at  timestamptz NOT NULL,
    activated_at   timestamptz,
    activated_by   text[]      NOT NULL DEFAULT '{}',  -- the key ids whose signatures counted
    revoked_at     timestamptz,
    revoke_reason  text        NOT NULL DEFAULT '',
    event_id       uuid        NOT NULL
);

CREATE INDEX IF NOT EXISTS policies_status ON policies (status);

CREATE TABLE IF NOT EXISTS policy_signatures (
    policy_hash    text        NOT NULL,
    key_id         text        NOT NULL,           -- RFC 7638 thumbprint of the constitution key
    signature      text        NOT NULL,           -- base64url Ed25519 signature
    signed_at      timestamptz NOT NULL,
    PRIMARY KEY (policy_hash, key_id)
);
