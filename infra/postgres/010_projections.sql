-- Projection support (issue 6).
--
-- sessions are projected from SessionMinted in log order while tenants are written
-- by the edge; a foreign key between two independent writers would stall the
-- projector on an ordering race, so the read model drops it (the edge creates the
-- tenant before it mints any session, and replay tables never had it).
ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sessions_tenant_id_fkey;

-- turns: the last applied conversation seq (makes a duplicated event a no-op) and
-- the wall time TurnCompleted reports.
ALTER TABLE turns ADD COLUMN IF NOT EXISTS last_seq bigint NOT NULL DEFAULT -1;
ALTER TABLE turns ADD COLUMN IF NOT EXISTS duration_ms bigint;
CREATE INDEX IF NOT EXISTS ix_turns_tenant ON turns (tenant_id);
