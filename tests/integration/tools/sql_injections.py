# ruff: noqa: E501  (one attempt per line reads best)
"""Injection attempts a model (or the user steering it) might put into the ``sql`` tool.

The tool sends SQL unchanged through a client scoped to the calling tenant, so the
whole analytics corpus applies (its URL-parameter entries are run as SQL only: the
tool sends no parameters of the caller's). Below it, attempts aimed at the old
text guard and at the tool's own limits. ``{B}`` is the other tenant's id,
``{FILE}`` a file on the service's machine holding a secret.
"""

from __future__ import annotations

from integration.analytics.analytics_injections import INJECTIONS

# fmt: off
TOOL_INJECTIONS: list[tuple[str, str]] = [
    # the bypass reported in issue 19 (item 6) and variants of it
    ("reported-bypass", "SELECT b.* FROM (WITH usage_minute AS (SELECT 1 AS x) SELECT * FROM usage_minute) AS a, usage_minute AS b"),
    ("bypass-events", "SELECT b.* FROM (WITH events AS (SELECT 1 AS x) SELECT * FROM events) AS a, events AS b"),
    ("bypass-nested", "SELECT c.* FROM (SELECT * FROM (WITH events AS (SELECT 1 AS x) SELECT * FROM events)) AS a, (SELECT * FROM events) AS c"),
    ("bypass-in", "SELECT event_id, tenant FROM events WHERE event_id IN (WITH events AS (SELECT 1) SELECT event_id FROM events)"),
    ("cte-named-like-table", "WITH events AS (SELECT * FROM usage_minute) SELECT * FROM events"),
    ("alias-is-table", "SELECT events.* FROM (SELECT 1 AS x) AS events, events AS e2"),
    # the old guard's tenant parameter, and the String/UUID mismatch of issue 19 (item 5)
    ("tenant-param", "SELECT event_id, tenant FROM events WHERE tenant = {somagent_tenant:String}"),
    ("tenant-param-uuid", "SELECT count() FROM events WHERE tenant = {somagent_tenant:UUID}"),
    ("tenant-literal-other", "SELECT event_id, tenant FROM events WHERE toString(tenant) = '{B}'"),
    ("tenant-not-equal", "SELECT event_id, tenant FROM events WHERE tenant != '' OR tenant = '{B}'"),
    # things the old guard refused by keyword, now left to the engine
    ("settings-clause", "SELECT event_id, tenant FROM events SETTINGS additional_table_filters = {}, readonly = 0"),
    ("final-keyword", "SELECT event_id, tenant FROM events FINAL"),
    ("format-clause", "SELECT event_id FROM events FORMAT TSV"),
    ("format-json-each-row", "SELECT event_id, tenant FROM events FORMAT JSONEachRow"),
    ("trailing-second", "SELECT 1;\nSELECT event_id, tenant FROM events WHERE tenant = '{B}'"),
    ("semicolons-only-tail", "SELECT event_id, tenant FROM events ;;  "),
    ("union-distinct", "SELECT event_id FROM events UNION DISTINCT SELECT topic FROM projector_positions"),
    ("describe-events", "DESCRIBE TABLE events"),
    ("show-tables", "SHOW TABLES"),
    ("explain-tree", "EXPLAIN QUERY TREE SELECT * FROM events"),
    ("limits-rows", "SELECT number FROM numbers(1000000)"),
    ("limits-time", "SELECT count() FROM numbers_mt(100000000000)"),
    ("error-echo", "SELECT throwIf(1, (SELECT groupArray(tenant) FROM events)::String)"),
    ("error-echo-cast", "SELECT toUInt8((SELECT any(payload) FROM events WHERE tenant = '{B}'))"),
]
# fmt: on

#: Every attempt as (name, sql).
ALL: list[tuple[str, str]] = [(n, s) for n, s, _ in INJECTIONS] + TOOL_INJECTIONS
