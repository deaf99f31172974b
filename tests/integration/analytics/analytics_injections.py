# ruff: noqa: E501  (one attempt per line reads best)
"""Injection attempts a tenant analyst might send; each must fail or show only their rows.

Each entry: (name, sql, extra URL parameters). ``{B}`` is replaced by the other
tenant's id, ``{FILE}`` by a file on the service's machine holding a secret.
The test runs every entry as tenant A (own key) and as the service acting for
A, and asserts either a ClickHouse error or a response without any marker of
tenant B's rows, of invisible tables or of the secret file.
"""

from __future__ import annotations

# fmt: off
INJECTIONS: list[tuple[str, str, dict[str, str]]] = [
    # shadowing and scoping
    ("with-shadowing", "SELECT b.* FROM (WITH usage_minute AS (SELECT 1 AS x) SELECT * FROM usage_minute) AS a, usage_minute AS b", {}),
    ("with-shadow-events", "SELECT b.event_id, b.tenant FROM (WITH events AS (SELECT 1 AS x) SELECT * FROM events) AS a, events AS b", {}),
    ("with-hidden-name", "WITH projector_positions AS (SELECT 1 AS x) SELECT * FROM projector_positions", {}),
    ("cte-over-events", "WITH e AS (SELECT * FROM events) SELECT event_id, tenant, payload FROM e", {}),
    ("qualified", "SELECT event_id, tenant FROM somagent.events", {}),
    ("quoted-qualified", 'SELECT event_id, tenant FROM "somagent"."events"', {}),
    ("backquoted", "SELECT event_id FROM `events` FINAL", {}),
    # table functions
    ("merge", "SELECT event_id, tenant FROM merge('somagent', '^events$')", {}),
    ("merge-regexp-db", "SELECT * FROM merge(REGEXP('some'), '.*')", {}),
    ("remote", "SELECT event_id FROM remote('127.0.0.1', somagent.events)", {}),
    ("cluster-all-replicas", "SELECT event_id FROM clusterAllReplicas('default', somagent.events)", {}),
    ("view", "SELECT event_id, tenant FROM view(SELECT * FROM events)", {}),
    ("loop", "SELECT event_id FROM loop(events) LIMIT 20", {}),
    ("file-table", "SELECT * FROM file('{FILE}', 'LineAsString')", {}),
    ("url", "SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a String')", {}),
    ("s3", "SELECT * FROM s3('http://127.0.0.1:9/bucket/x.csv', 'CSV', 'a String')", {}),
    ("input", "SELECT * FROM input('a String')", {}),
    ("executable", "SELECT * FROM executable('cat {FILE}', 'TSV', 'a String')", {}),
    ("merge-tree-index", "SELECT * FROM mergeTreeIndex('somagent', 'events')", {}),
    ("dictionary", "SELECT * FROM dictionary('anything')", {}),
    ("numbers-join-hidden", "SELECT * FROM numbers(1) AS n JOIN projector_positions AS p ON 1", {}),
    # functions reading outside data
    ("file-scalar", "SELECT file('{FILE}')", {}),
    ("file-upper", "SELECT FILE('{FILE}')", {}),
    ("file-in-lambda", "SELECT arrayMap(x -> file(x), ['{FILE}'])", {}),
    ("file-in-error", "SELECT toInt32(file('{FILE}'))", {}),
    ("dictget", "SELECT dictGet('d', 'a', toUInt64(1))", {}),
    ("joinget", "SELECT joinGet('somagent.events', 'tenant', 'x')", {}),
    ("has-column", "SELECT hasColumnInTable('somagent', 'projector_positions', 'topic')", {}),
    ("server-setting", "SELECT getServerSetting('path')", {}),
    # system tables
    ("system-parts", "SELECT table, rows FROM system.parts", {}),
    ("system-tables", "SELECT name, create_table_query FROM system.tables", {}),
    ("system-columns", "SELECT table, name FROM system.columns", {}),
    ("system-query-log", "SELECT query FROM system.query_log", {}),
    ("system-processes", "SELECT query FROM system.processes", {}),
    ("system-settings-ok", "SELECT value FROM system.settings WHERE name = 'additional_table_filters'", {}),
    # invisible tables, directly and indirectly
    ("hidden-direct", "SELECT * FROM projector_positions", {}),
    ("hidden-mv", "SELECT * FROM usage_minute_mv", {}),
    ("hidden-in", "SELECT event_id FROM events WHERE tenant IN projector_positions", {}),
    ("hidden-in-subquery", "SELECT event_id FROM events WHERE tenant IN (SELECT topic FROM projector_positions)", {}),
    ("hidden-scalar", "SELECT (SELECT any(projector) FROM projector_positions)", {}),
    ("hidden-scalar-cast", "SELECT toInt32((SELECT any(projector) FROM projector_positions))", {}),
    ("hidden-describe", "DESCRIBE TABLE projector_positions", {}),
    ("hidden-exists", "EXISTS TABLE projector_positions", {}),
    ("hidden-show-create", "SHOW CREATE TABLE projector_positions", {}),
    ("hidden-explain", "EXPLAIN SELECT * FROM projector_positions", {}),
    # the other tenant through the visible tables
    ("where-other", "SELECT event_id FROM events WHERE tenant = '{B}'", {}),
    ("or-true", "SELECT event_id, tenant FROM events WHERE tenant = '{B}' OR 1 = 1", {}),
    ("union", "SELECT event_id FROM events UNION ALL SELECT event_id FROM events WHERE tenant = '{B}'", {}),
    ("join-self", "SELECT b.event_id, b.tenant FROM events AS a JOIN events AS b ON 1 = 1", {}),
    ("in-subquery", "SELECT event_id FROM events WHERE event_id IN (SELECT event_id FROM events WHERE tenant = '{B}')", {}),
    ("scalar-subquery", "SELECT (SELECT groupArray(event_id) FROM events)", {}),
    ("views-usage", "SELECT tenant, agent, tokens FROM usage_by_minute", {}),
    ("views-latency", "SELECT tenant, turn FROM turn_step_latency", {}),
    ("usage-state", "SELECT tenant, agent FROM usage_minute", {}),
    ("final", "SELECT event_id, tenant FROM events FINAL", {}),
    ("array-join", "SELECT e FROM (SELECT groupArray(event_id) AS ids FROM events) ARRAY JOIN ids AS e", {}),
    # settings and session
    ("settings-filters", "SELECT event_id, tenant FROM events SETTINGS additional_table_filters = {}", {}),
    ("settings-readonly", "SELECT event_id FROM events SETTINGS readonly = 0", {}),
    ("set-filters", "SET additional_table_filters = {}", {}),
    ("set-readonly", "SET readonly = 0", {}),
    ("use-system", "USE system", {}),
    ("url-setting-filters", "SELECT event_id, tenant FROM events", {"additional_table_filters": "{}"}),
    ("url-setting-readonly", "SELECT event_id, tenant FROM events", {"readonly": "0"}),
    ("url-setting-result-filter", "SELECT event_id, tenant FROM events", {"additional_result_filter": "1"}),
    ("url-database-system", "SELECT * FROM parts", {"database": "system"}),
    ("url-database-default", "SELECT event_id FROM events", {"database": "default"}),
    ("long-timeout", "SELECT 1", {"max_execution_time": "100000"}),
    # several statements, comments, unicode
    ("two-statements", "SELECT 1; DROP TABLE events", {}),
    ("two-selects", "SELECT event_id FROM events; SELECT * FROM projector_positions", {}),
    ("comment-hides-semicolon", "SELECT event_id FROM events -- ; SELECT * FROM projector_positions", {}),
    ("block-comment", "SELECT event_id FROM events /* ; DROP TABLE events */", {}),
    ("comment-splits-name", "SELECT * FROM projector/**/_positions", {}),
    ("comment-keywords", "SELECT/**/*/**/FROM/**/projector_positions", {}),
    ("hash-comment", "SELECT event_id FROM events # ; DROP TABLE events", {}),
    ("fullwidth", "ＳＥＬＥＣＴ * FROM projector_positions", {}),
    ("homoglyph-file", "SELECT fіle('{FILE}')", {}),
    ("zero-width", "SELECT * FROM projector\u200b_positions", {}),
    ("rtl-override", "SELECT event_id FROM events WHERE tenant = '\u202e{B}'", {}),
    ("nul-byte", "SELECT event_id FROM events WHERE 1\x00; DROP TABLE events", {}),
    # FORMAT tricks
    ("format-then-statement", "SELECT event_id FROM events FORMAT TSV\n; DROP TABLE events", {}),
    ("format-template", "SELECT event_id FROM events FORMAT Template", {}),
    ("into-outfile", "SELECT event_id FROM events INTO OUTFILE '/tmp/somagent-pwn.txt'", {}),
    ("default-format-trick", "SELECT event_id FROM events", {"default_format": "TSV; DROP TABLE events"}),
    ("insert-format", 'INSERT INTO events FORMAT JSONEachRow {"event_id": "x", "tenant": "{B}"}', {}),
    # parameters
    ("param-tenant", "SELECT event_id, tenant FROM events WHERE tenant = {tenant:String}", {"param_tenant": "{B}"}),
    ("param-identifier", "SELECT * FROM {t:Identifier}", {"param_t": "projector_positions"}),
    ("param-identifier-system", "SELECT * FROM {t:Identifier}", {"param_t": "system.parts"}),
    ("param-quote", "SELECT event_id FROM events WHERE tenant = {t:String}", {"param_t": "x' OR 1=1 --"}),
    ("param-statement", "SELECT {x:String}", {"param_x": "1'; DROP TABLE events; --"}),
]

# Statements that would change data, the schema or the server; refused, and nothing changes.
WRITES: list[str] = [
    "INSERT INTO events (event_id, tenant) VALUES ('w', 'x')",
    "INSERT INTO events SELECT * FROM events",
    "INSERT INTO projector_positions (projector) VALUES ('w')",
    "ALTER TABLE events DELETE WHERE 1",
    "ALTER TABLE events UPDATE tenant = 'x' WHERE 1",
    "ALTER TABLE events ADD COLUMN w String",
    "TRUNCATE TABLE events",
    "DROP TABLE events",
    "DROP TABLE IF EXISTS projector_positions",
    "DROP DATABASE somagent",
    "CREATE TABLE w (a Int8) ENGINE = Memory",
    "CREATE TABLE w AS events",
    "CREATE VIEW w AS SELECT * FROM events",
    "CREATE ROW POLICY w ON events USING 1 TO ALL",
    "CREATE USER w",
    "CREATE FUNCTION w AS x -> x",
    "RENAME TABLE events TO w",
    "EXCHANGE TABLES events AND usage_minute",
    "DETACH TABLE events",
    "OPTIMIZE TABLE events FINAL",
    "SYSTEM STOP MERGES",  # chDB accepts this under readonly=1: the statement check refuses it
    "SYSTEM DROP MARK CACHE",
    "KILL QUERY WHERE 1",  # likewise accepted by readonly=1 alone
    "GRANT ALL ON *.* TO default",
    "SET max_threads = 1",
    "BACKUP TABLE events TO File('/tmp/somagent-backup')",
    "INSERT INTO FUNCTION file('/tmp/somagent-pwn.csv', 'CSV', 'a String') VALUES ('x')",
]
# fmt: on
