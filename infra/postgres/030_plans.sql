-- Plans and entitlements (issue 16, part B): the seed's per-tenant `limits` and
-- `billing_profile`. Both are JSON objects; empty means "the plan's defaults"
-- (somagent/plans/limits.py: PLAN_DEFAULTS). `limits` may override
-- max_tokens_per_session, tools_per_min, tokens_per_min, concurrent_turns, lane;
-- `billing_profile.lane` (interactive | batch) is the tenant's QoS lane.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS limits jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(limits) = 'object');
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS billing_profile jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(billing_profile) = 'object');
