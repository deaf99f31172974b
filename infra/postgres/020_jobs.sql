-- Jobs (issue 14): the Postgres read model of jobs.events, written by the projector
-- (somagent/projections/jobs.py). `state` is the job's folded view
-- (somagent.jobs.view.JobView), kept so the next batch folds on from it; the other
-- columns are that view's fields for queries (GET /v1/jobs?status=, analysts).
CREATE TABLE IF NOT EXISTS jobs (
    job_id          uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    session_id      uuid NOT NULL,
    name            text NOT NULL,
    status          text NOT NULL,
    parent_job_id   uuid,
    submitted_by    text NOT NULL,
    spec_sha256     text NOT NULL,
    steps_total     int NOT NULL,
    steps_completed int NOT NULL,
    failed_step     text,
    failure_reason  text,
    submitted_at    timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    duration_ms     bigint,
    last_seq        bigint NOT NULL,
    state           jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_jobs_tenant_status ON jobs (tenant_id, status, submitted_at DESC);

-- One row per step of a job, in spec order (position).
CREATE TABLE IF NOT EXISTS job_steps (
    job_id            uuid NOT NULL,
    step              text NOT NULL,
    position          int NOT NULL,
    kind              text NOT NULL,
    status            text NOT NULL,
    attempts          int NOT NULL,
    turn_id           uuid,
    child_job_id      uuid,
    started_at        timestamptz,
    finished_at       timestamptz,
    duration_ms       bigint,
    output            jsonb,
    error             text,
    approval_decision text,
    approved_by       text,
    compensation      text,
    PRIMARY KEY (job_id, step)
);
