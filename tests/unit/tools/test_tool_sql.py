"""The read-only SQL guard, and the sql tool against the real ClickHouse engine (chDB)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from somagent.tools.exceptions import SqlRejected
from somagent.tools.sql_tool import guard_sql

FILTER = "(SELECT * FROM events FINAL WHERE tenant = {somagent_tenant:UUID})"
WRAP_END = " LIMIT 1000 SETTINGS readonly = 1, max_execution_time = 10"


def inner(sql: str) -> str:
    out = guard_sql(sql)
    assert out.startswith("SELECT * FROM (") and out.endswith(")" + WRAP_END)
    return out[len("SELECT * FROM (") : -len(")" + WRAP_END)]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT count() FROM events", f"SELECT count() FROM {FILTER} AS events"),
        ("select type from events e where seq > 1;", f"select type from {FILTER} e where seq > 1"),
        ("SELECT * FROM events AS x FINAL", f"SELECT * FROM {FILTER} AS x FINAL"),
        ("SELECT * FROM events FINAL", f"SELECT * FROM {FILTER} AS events"),
        (
            "SELECT a.type FROM events a JOIN events b ON a.turn = b.turn",
            f"SELECT a.type FROM {FILTER} a JOIN {FILTER} b ON a.turn = b.turn",
        ),
        (
            "WITH t AS (SELECT * FROM events) SELECT count() FROM t",
            f"WITH t AS (SELECT * FROM {FILTER} AS events) SELECT count() FROM t",
        ),
        (
            "SELECT 'DROP TABLE x; from system.tables' AS s FROM events",
            f"SELECT 'DROP TABLE x; from system.tables' AS s FROM {FILTER} AS events",
        ),
        (
            "SELECT * FROM events WHERE turn IN (SELECT turn FROM events WHERE type = 'X')",
            f"SELECT * FROM {FILTER} AS events WHERE turn IN "
            f"(SELECT turn FROM {FILTER} AS events WHERE type = 'X')",
        ),
        (
            "SELECT count() FROM events WHERE event_id IN events",
            f"SELECT count() FROM {FILTER} AS events WHERE event_id IN {FILTER}",
        ),
        ('SELECT "type" FROM "events"', f'SELECT "type" FROM {FILTER} AS events'),
        (
            "SELECT x FROM events ARRAY JOIN [1, 2] AS x",
            f"SELECT x FROM {FILTER} AS events ARRAY JOIN [1, 2] AS x",
        ),
    ],
)
def test_tables_are_confined_to_the_tenant(sql: str, expected: str) -> None:
    assert inner(sql) == expected


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("INSERT INTO events VALUES (1)", "only SELECT or WITH"),
        ("SELECT 1; DROP TABLE events", "only one statement|DROP is not allowed"),
        ("SELECT 1; SELECT 2", "only one statement"),
        ("SELECT * FROM system.tables", "SYSTEM is not allowed"),
        ("SELECT * FROM somagent.events", "database-qualified"),
        ("SELECT * FROM numbers(10)", "table function numbers"),
        ("SELECT * FROM file('/etc/passwd')", "function file"),
        ("SELECT file('/etc/passwd')", "function file"),
        ("SELECT * FROM url('http://x', CSV)", "function url"),
        ("SELECT * FROM remote('h', db.t)", "function remote"),
        ("SELECT dictGet('d', 'a', 1)", r"function dictGet\(\)"),
        ("SELECT joinGet('j', 'v', 1)", r"function joinGet\(\)"),
        ("SELECT * FROM secrets", "table 'secrets' is not readable"),
        ("SELECT * FROM events, secrets", "table 'secrets' is not readable"),
        ("SELECT * FROM events JOIN secrets ON 1", "table 'secrets' is not readable"),
        ("SELECT * FROM events WHERE x IN secrets", "table 'secrets' is not readable"),
        ("SELECT * FROM events -- comment", "comments"),
        ("SELECT * FROM events /* c */", "comments"),
        ("SELECT * FROM events # c", "comments"),
        ("SELECT {x:UInt8}", "parameters"),
        ("SELECT * FROM events SETTINGS readonly = 0", "SETTINGS is not allowed"),
        ("SELECT * FROM events FORMAT CSV", "FORMAT is not allowed"),
        ("SELECT * FROM events INTO OUTFILE 'x'", "INTO is not allowed"),
        ("SELECT (1", "unbalanced"),
        ("SELECT 1)", "unbalanced"),
        ("", "empty"),
        ("SHOW TABLES", "only SELECT"),
        ("SELECT * FROM `system`.`users`", "database-qualified"),
    ],
)
def test_unsafe_sql_is_rejected(sql: str, message: str) -> None:
    with pytest.raises(SqlRejected, match=message) as info:
        guard_sql(sql)
    assert info.value.code == "rejected"


def test_custom_table_mapping() -> None:
    out = guard_sql("SELECT * FROM usage", {"usage": "somagent.usage_ledger"}, max_rows=5)
    assert "FROM somagent.usage_ledger FINAL WHERE tenant =" in out and " LIMIT 5 " in out


SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from somagent.projections.clickhouse import ChdbClickHouse
    from somagent.tools.exceptions import ToolExecutionError
    from somagent.tools.spec import ToolContext
    from somagent.tools.sql_tool import SqlTool

    A = "11111111-1111-4111-8111-111111111111"
    B = "22222222-2222-4222-8222-222222222222"
    ch = ChdbClickHouse(Path(sys.argv[1]), "somagent_sqltool")
    ch.execute(
        "CREATE TABLE IF NOT EXISTS events (event_id UUID, type String, tenant UUID, "
        "seq Int64, payload String) ENGINE = ReplacingMergeTree ORDER BY (tenant, event_id)"
    )
    ch.execute(
        "CREATE TABLE IF NOT EXISTS secrets (tenant UUID, v String) "
        "ENGINE = MergeTree ORDER BY tenant"
    )
    rows = []
    for i in range(5):
        rows.append({"event_id": f"00000000-0000-4000-8000-00000000000{i}", "type": "TurnAnswered",
                     "tenant": A if i < 3 else B, "seq": i, "payload": "{}"})
    ch.insert_json_rows("events", rows)
    ch.insert_json_rows("events", rows[:1])  # a redelivered row: FINAL collapses it

    tool = SqlTool(ch, max_rows=2)
    out = {}
    async def main():
        for name, tenant, sql in [
            ("count_a", A, "SELECT count() AS n FROM events"),
            ("count_b", B, "SELECT count() AS n FROM events"),
            ("join_a", A, "SELECT count() AS n FROM events a "
                          "JOIN events b ON a.event_id = b.event_id"),
            ("rows_a", A, "SELECT seq FROM events ORDER BY seq"),
        ]:
            out[name] = await tool({"sql": sql}, ToolContext(tenant, 5.0))
        for name, sql in [("secrets", "SELECT * FROM secrets"),
                          ("bad_column", "SELECT nope FROM events")]:
            try:
                await tool({"sql": sql}, ToolContext(A, 5.0))
                out[name] = "ran"
            except ToolExecutionError as exc:
                out[name] = exc.code
    asyncio.run(main())
    print(json.dumps(out))
    """
)


def test_sql_tool_sees_only_the_callers_rows(tmp_path: Path) -> None:
    """Real ClickHouse engine (chDB) in a child process: chDB allows one data
    directory per process, so the test does not share the pytest process."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "ch")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["count_a"]["rows"] == [{"n": "3"}] or out["count_a"]["rows"] == [{"n": 3}]
    assert out["count_b"]["rows"] in ([{"n": "2"}], [{"n": 2}])
    assert out["join_a"]["rows"] in ([{"n": "3"}], [{"n": 3}])
    assert out["rows_a"]["row_count"] == 2 and out["rows_a"]["truncated"] is True
    assert [int(r["seq"]) for r in out["rows_a"]["rows"]] == [0, 1]
    assert out["secrets"] == "rejected"
    assert out["bad_column"] == "query-failed"
