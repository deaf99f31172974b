-- Marketplace agents (issue 15): per-turn measurements and the ranking, for
-- analysts and for GET /v1/agents?sort=rank. Same common subset as 001 (chDB
-- 26.x and ClickHouse server 18.16): no window functions, JSON read with
-- visitParamExtract*, ANY LEFT JOIN ... USING.

-- One row per completed turn of a session minted for a marketplace agent
-- (TurnRequested.agent != ''): its version, times, duration, failure and the
-- exact priced cost of its usage records (picocents).
CREATE VIEW IF NOT EXISTS agent_version_turns AS
SELECT
    tenant,
    turn,
    agent,
    agent_version,
    requested_us,
    completed_us,
    duration_ms,
    failed,
    cost_picocents
FROM (
    SELECT
        tenant,
        turn,
        anyIf(visitParamExtractString(payload, 'agent'), type = 'TurnRequested') AS agent,
        anyIf(visitParamExtractString(payload, 'agent_version'), type = 'TurnRequested') AS agent_version,
        minIf(ts_us, type = 'TurnRequested') AS requested_us,
        maxIf(ts_us, type = 'TurnCompleted') AS completed_us,
        maxIf(visitParamExtractInt(payload, 'duration_ms'), type = 'TurnCompleted') AS duration_ms,
        countIf(type = 'TurnCompleted') AS completions,
        countIf(type = 'TurnFailed') > 0 AS failed,
        sumIf(
            visitParamExtractInt(payload, 'tokens') * visitParamExtractInt(payload, 'token_price_picocents')
            + visitParamExtractInt(payload, 'tool_calls') * visitParamExtractInt(payload, 'tool_call_price_picocents')
            + visitParamExtractInt(payload, 'storage_bytes') * visitParamExtractInt(payload, 'storage_byte_price_picocents')
            + visitParamExtractInt(payload, 'egress_bytes') * visitParamExtractInt(payload, 'egress_byte_price_picocents'),
            type = 'UsageRecorded'
        ) AS cost_picocents
    FROM (
        SELECT DISTINCT event_id, tenant, turn, type, ts_us, payload
        FROM events
        WHERE turn != '' AND type IN ('TurnRequested', 'TurnCompleted', 'TurnFailed', 'UsageRecorded')
    )
    GROUP BY tenant, turn
)
WHERE agent != '' AND completions > 0;

-- Each agent version's SLA (planner.sla_ms) from its publish/update event.
CREATE VIEW IF NOT EXISTS agent_version_sla AS
SELECT
    visitParamExtractString(payload, 'agent_id') AS agent,
    visitParamExtractString(payload, 'version') AS agent_version,
    max(visitParamExtractInt(payload, 'sla_ms')) AS sla_ms
FROM events
WHERE type IN ('AgentPublished', 'AgentUpdated')
GROUP BY agent, agent_version;

-- The ranking over every measured turn (GET /v1/agents?sort=rank computes the same
-- over a window): the Wilson lower bound (z = 1.96) of the share of good turns
-- (not failed and within the version's SLA), then P95 latency, then cost per turn.
CREATE VIEW IF NOT EXISTS agent_version_ranking AS
SELECT
    agent,
    agent_version,
    turns,
    succeeded,
    sla_breaches,
    good,
    p95_latency_ms,
    cost_per_turn_cents,
    if(turns = 0, 0,
       greatest(0, ((good / turns) + 1.959963984540054 * 1.959963984540054 / (2 * turns)
        - 1.959963984540054 * sqrt((good / turns) * (1 - good / turns) / turns
            + 1.959963984540054 * 1.959963984540054 / (4 * turns * turns)))
        / (1 + 1.959963984540054 * 1.959963984540054 / turns))) AS score
FROM (
    SELECT
        agent,
        agent_version,
        count() AS turns,
        countIf(NOT failed) AS succeeded,
        countIf(duration_ms > sla) AS sla_breaches,
        countIf(NOT failed AND duration_ms <= sla) AS good,
        quantileExact(0.95)(duration_ms) AS p95_latency_ms,
        sum(cost_picocents) / count() / 1000000000000 AS cost_per_turn_cents
    FROM (
        SELECT agent, agent_version, duration_ms, failed, cost_picocents,
               if(sla_ms > 0, sla_ms, 10000) AS sla
        FROM agent_version_turns
        ANY LEFT JOIN agent_version_sla USING (agent, agent_version)
    )
    GROUP BY agent, agent_version
)
ORDER BY score DESC, p95_latency_ms ASC, cost_per_turn_cents ASC;

-- Turns in flight when their agent was revoked: requested before the first
-- AgentRevoked of the agent and completed at or after it (they finish; this marks them).
-- ALL, not ANY: an ANY INNER JOIN keeps one row per key of the left side too (ClickHouse
-- 20+), which would keep one turn per agent; the right side has one row per agent.
CREATE VIEW IF NOT EXISTS agent_turns_after_revoke AS
SELECT tenant, turn, agent, agent_version, requested_us, completed_us, revoked_us
FROM agent_version_turns
ALL INNER JOIN (
    SELECT visitParamExtractString(payload, 'agent_id') AS agent, min(ts_us) AS revoked_us
    FROM events
    WHERE type = 'AgentRevoked'
    GROUP BY agent
) AS revocations USING (agent)
WHERE requested_us < revoked_us AND completed_us >= revoked_us;
