-- ClickHouse read models. One DDL for chDB (26.x) and ClickHouse server 18.16
-- (Debian's clickhouse-server), so it stays in their common subset: String ids,
-- DateTime plus an Int64 microseconds column, JSON payloads as String read with
-- visitParamExtract*, no window functions, no DateTime64, no JSON type.

-- Every event, one row each, keyed by event id so redelivery never double counts
-- (ReplacingMergeTree collapses duplicates, keeping the copy at the highest
-- offset; queries use FINAL or GROUP BY event_id). session/turn are '' when the
-- event has none.
CREATE TABLE IF NOT EXISTS events (
    event_id   String,
    type       String,
    ts_us      Int64,
    ts         DateTime DEFAULT toDateTime(intDiv(ts_us, 1000000)),
    tenant     String,
    session    String,
    turn       String,
    trace_id   String,
    seq        Int64,
    producer   String,
    topic      String,
    kafka_partition Int32,
    kafka_offset    Int64,
    payload    String
) ENGINE = ReplacingMergeTree(kafka_offset)
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant, event_id);

-- Usage rollup by tenant/agent/minute, fed from the ledger rows in `events`.
-- Each ledger row enters as one (event_id, counts...) tuple in a uniq-array state,
-- so a ledger row inserted twice (redelivery, replay into the same table) counts
-- once; totals are the sums over the merged set (see the usage_by_minute view).
CREATE TABLE IF NOT EXISTS usage_minute (
    tenant      String,
    agent       String,
    minute      DateTime,
    ledger_rows AggregateFunction(groupUniqArray, Tuple(String, Int64, Int64, Int64, Int64, Int64))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant, agent, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_minute_mv TO usage_minute AS
SELECT
    tenant,
    visitParamExtractString(payload, 'agent') AS agent,
    toDateTime(intDiv(visitParamExtractInt(payload, 'window_start'), 1000000)) AS minute,
    groupUniqArrayState(tuple(
        event_id,
        visitParamExtractInt(payload, 'tokens'),
        visitParamExtractInt(payload, 'tool_calls'),
        visitParamExtractInt(payload, 'storage_bytes'),
        visitParamExtractInt(payload, 'egress_bytes'),
        visitParamExtractInt(payload, 'cost_cents')
    )) AS ledger_rows
FROM events
WHERE type = 'UsageWindowClosed'
GROUP BY tenant, agent, minute;

-- Totals per tenant/agent/minute: every distinct ledger row summed once.
CREATE VIEW IF NOT EXISTS usage_by_minute AS
SELECT
    tenant,
    agent,
    minute,
    arraySum(arrayMap(r -> tupleElement(r, 2), rows)) AS tokens,
    arraySum(arrayMap(r -> tupleElement(r, 3), rows)) AS tool_calls,
    arraySum(arrayMap(r -> tupleElement(r, 4), rows)) AS storage_bytes,
    arraySum(arrayMap(r -> tupleElement(r, 5), rows)) AS egress_bytes,
    arraySum(arrayMap(r -> tupleElement(r, 6), rows)) AS cost_cents,
    length(rows) AS ledger_rows
FROM (
    SELECT tenant, agent, minute, groupUniqArrayMerge(ledger_rows) AS rows
    FROM usage_minute
    GROUP BY tenant, agent, minute
);

-- Turn latency per step: for each turn event, the time since the turn's previous
-- event (by seq), in microseconds; the first event of a turn has latency 0.
CREATE VIEW IF NOT EXISTS turn_step_latency AS
SELECT
    tenant,
    turn,
    tupleElement(step, 1) AS seq,
    tupleElement(step, 3) AS step_type,
    tupleElement(step, 2) AS ts_us,
    latency_us
FROM (
    SELECT
        tenant,
        turn,
        arraySort(groupArray(tuple(seq, ts_us, type))) AS steps,
        arrayDifference(arrayMap(s -> tupleElement(s, 2), steps)) AS latencies
    FROM (SELECT DISTINCT event_id, tenant, turn, seq, ts_us, type FROM events WHERE turn != '')
    GROUP BY tenant, turn
)
ARRAY JOIN steps AS step, latencies AS latency_us;

-- Where the ClickHouse projector stands in each partition: written after the
-- rows it covers, so a crash between the two re-inserts (harmlessly) rather
-- than skips. The newest row per key wins (argMax over updated_us).
CREATE TABLE IF NOT EXISTS projector_positions (
    projector       String,
    topic           String,
    kafka_partition Int32,
    next_offset     Int64,
    updated_us      Int64
) ENGINE = ReplacingMergeTree(updated_us)
ORDER BY (projector, topic, kafka_partition);
