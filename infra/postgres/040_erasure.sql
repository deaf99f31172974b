-- Retention and erasure (issue 16, part B): per-tenant data keys, stored wrapped by the
-- master key (somagent/erasure). At most one live key per tenant; destroying a key
-- (DELETE /v1/tenants/{id}/data) drops its wrapped bytes for good (crypto-shredding)
-- and keeps the row as the record of when. A later first use creates a new key.
CREATE TABLE IF NOT EXISTS tenant_data_keys (
    key_id        text        PRIMARY KEY,
    tenant_id     uuid        NOT NULL,  -- no FK: events may name tenants made elsewhere
    wrapped_key   bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    destroyed_at  timestamptz,
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_tenant_data_keys_live
    ON tenant_data_keys (tenant_id) WHERE destroyed_at IS NULL;
