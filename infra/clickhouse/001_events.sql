-- Every event, one row each, keyed by event id so redelivery never double counts
-- (ReplacingMergeTree collapses duplicates; queries use FINAL or GROUP BY event_id).
CREATE TABLE IF NOT EXISTS events (
    event_id   UUID,
    type       String,
    ts         DateTime64(6, 'UTC'),
    tenant     UUID,
    session    Nullable(UUID),
    turn       Nullable(UUID),
    trace_id   String,
    seq        Int64,
    producer   String,
    topic      String,
    partition  Int32,
    offset     Int64,
    payload    String
) ENGINE = ReplacingMergeTree
ORDER BY (tenant, event_id);
