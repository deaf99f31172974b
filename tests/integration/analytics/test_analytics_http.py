"""ClickHouse's HTTP interface as curl speaks it: routes, parameters, formats, errors, inserts."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import chdb
import cramjam
import fastavro
import httpx
import pytest
from analytics_helpers import Analytics

from somagent.stack.process import free_port

pytestmark = pytest.mark.integration

ERROR_BODY = re.compile(
    r"^Code: (\d+)\. DB::Exception: .+ \(([A-Z_]+)\) \(version [\d.]+\)\n$", re.S
)


@pytest.fixture(scope="module")
def http(analytics: Analytics) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=analytics.url, auth=("service", analytics.service_key)) as client:
        yield client


@pytest.fixture
def scratch(http: httpx.Client) -> Iterator[str]:
    """A fresh table of the service's own (a String, n Int64)."""
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    ok(
        http.post(
            "/", content=f"CREATE TABLE {name} (a String, n Int64) ENGINE = MergeTree ORDER BY n"
        )
    )
    yield name
    ok(http.post("/", content=f"DROP TABLE IF EXISTS {name}"))


def ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code == 200, response.text
    return response


def failed(response: httpx.Response, code: int, name: str, status: int) -> str:
    """Assert ClickHouse's error shape: status, code header, body; return the body."""
    assert response.status_code == status, response.text
    assert response.headers["x-clickhouse-exception-code"] == str(code)
    m = ERROR_BODY.match(response.text)
    assert m is not None and (int(m.group(1)), m.group(2)) == (code, name), response.text
    assert "Traceback" not in response.text and "EmbeddedServer" not in response.text
    return response.text


def test_ping_root_and_healthz(analytics: Analytics) -> None:
    assert httpx.get(f"{analytics.url}/ping").text == "Ok.\n"
    assert httpx.get(f"{analytics.url}/").text == "Ok.\n"
    health = httpx.get(f"{analytics.url}/healthz").json()
    assert health["status"] == "ok" and health["chdb_version"] == chdb.__version__
    assert health["data_dir"] == str(analytics.settings.clickhouse_path)
    assert health["tenant_tables"] == [
        "somagent.agent_turns_after_revoke",
        "somagent.agent_version_turns",
        "somagent.events",
        "somagent.turn_step_latency",
        "somagent.usage_by_minute",
        "somagent.usage_minute",
    ]


def test_get_post_and_headers(http: httpx.Client) -> None:
    got = ok(http.get("/", params={"query": "SELECT 1 + 1", "query_id": "q-fixed-1"}))
    assert got.text == "2\n"
    assert got.headers["x-clickhouse-query-id"] == "q-fixed-1"
    assert got.headers["x-clickhouse-format"] == "TabSeparated"
    assert got.headers["content-type"] == "text/tab-separated-values; charset=UTF-8"
    assert got.headers["x-clickhouse-timezone"] and got.headers["x-clickhouse-server-display-name"]
    summary = json.loads(got.headers["x-clickhouse-summary"])
    assert summary["read_rows"] == "1" and all(isinstance(v, str) for v in summary.values())
    assert ok(http.post("/", content="SELECT 'post'")).text == "post\n"
    # the query parameter is the statement's beginning, the body its rest
    assert ok(http.post("/", params={"query": "SELECT 40"}, content="+ 2")).text == "42\n"
    assert http.get("/", params={"query": "SELECT 1"}).headers["x-clickhouse-query-id"]


def test_formats(http: httpx.Client) -> None:
    rows = ok(http.post("/?default_format=JSONEachRow", content="SELECT 1 AS x, 'a' AS y"))
    assert rows.text == '{"x":1,"y":"a"}\n'
    assert rows.headers["x-clickhouse-format"] == "JSONEachRow"
    named = ok(http.post("/?default_format=JSON", content="SELECT 1 AS x FORMAT CSVWithNames"))
    assert named.text == '"x"\n1\n' and named.headers["x-clickhouse-format"] == "CSVWithNames"
    assert named.headers["content-type"] == "text/csv; charset=UTF-8; header=present"
    doc = ok(http.post("/", content="SELECT number FROM numbers(3) FORMAT JSON")).json()
    assert doc["rows"] == 3 and [r["number"] for r in doc["data"]] == [0, 1, 2]
    empty = ok(http.post("/", content="SELECT number FROM numbers(0) FORMAT JSON")).json()
    assert empty["rows"] == 0 and empty["meta"][0]["name"] == "number"
    native = ok(http.post("/", content="SELECT toUInt8(7) AS c FORMAT Native"))
    assert native.content == b"\x01\x01\x01c\x05UInt8\x07"
    assert native.headers["content-type"] == "application/octet-stream"


def test_database_and_query_parameters(http: httpx.Client) -> None:
    assert ok(http.get("/", params={"query": "SELECT currentDatabase()"})).text == "somagent\n"
    params = {"query": "SELECT currentDatabase()", "database": "system"}
    assert ok(http.get("/", params=params)).text == "system\n"
    # escaped format: \t is a tab, \\ one backslash (ClickHouse's rules for param_ values)
    sql = "SELECT hex({s:String}), {n:UInt8} + 1, {a:Array(String)}, {t:Identifier}"
    got = ok(
        http.post(
            "/",
            params={
                "param_s": "a\\tb\\\\",
                "param_n": "41",
                "param_a": "['x\\'y']",
                "param_t": "x",
            },
            content=sql.replace("{t:Identifier}", "1 AS {t:Identifier}"),
        )
    )
    assert got.text == "6109625C\t42\t['x\\'y']\t1\n"
    failed(http.post("/", content="SELECT {missing:String}"), 456, "UNKNOWN_QUERY_PARAMETER", 500)


def test_errors_have_clickhouse_shape(http: httpx.Client) -> None:
    failed(http.post("/", content="SELECT * FROM no_such_table"), 60, "UNKNOWN_TABLE", 404)
    failed(http.post("/", content="SELEC 1"), 62, "SYNTAX_ERROR", 400)
    text = failed(http.post("/", content="SELECT 1; SELECT 2"), 62, "SYNTAX_ERROR", 400)
    assert "Multi-statements are not allowed" in text
    failed(http.post("/", content=""), 62, "SYNTAX_ERROR", 400)
    failed(http.post("/", content="SELECT 1 FORMAT NoSuchFormat"), 73, "UNKNOWN_FORMAT", 404)
    failed(http.post("/?no_such_setting=1", content="SELECT 1"), 115, "UNKNOWN_SETTING", 404)
    failed(
        http.post("/", content="SELECT 1 INTO OUTFILE '/tmp/x'"),
        358,
        "INTO_OUTFILE_NOT_ALLOWED",
        500,
    )
    failed(
        http.post("/", content="SELECT throwIf(1)"), 395, "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", 500
    )
    assert http.post("/nope", content="SELECT 1").status_code == 404


def test_get_is_readonly(http: httpx.Client, scratch: str) -> None:
    text = failed(
        http.get("/", params={"query": f"INSERT INTO {scratch} VALUES ('x', 1)"}),
        164,
        "READONLY",
        500,
    )
    assert "readonly" in text
    assert ok(http.get("/", params={"query": f"SELECT count() FROM {scratch}"})).text == "0\n"


def test_inserts_in_every_shape(http: httpx.Client, scratch: str) -> None:
    ok(http.post("/", params={"query": f"INSERT INTO {scratch} FORMAT CSV"}, content=b"a,1\nb,2\n"))
    ok(
        http.post(
            "/", content=f'INSERT INTO {scratch} (n, a) FORMAT JSONEachRow\n{{"n":3,"a":"c"}}'
        )
    )
    ok(http.post("/", params={"query": f"INSERT INTO {scratch} VALUES"}, content=b"('d', 4)"))
    zipped = gzip.compress(b"e\t5\nf\t6\n")
    insert = {"query": f"INSERT INTO {scratch} FORMAT TSV"}
    ok(http.post("/", params=insert, content=zipped, headers={"Content-Encoding": "gzip"}))
    zstd = bytes(cramjam.zstd.compress(b"g,7\n"))
    csv = {"query": f"INSERT INTO {scratch} FORMAT CSV"}
    done = ok(http.post("/", params=csv, content=zstd, headers={"Content-Encoding": "zstd"}))
    assert json.loads(done.headers["x-clickhouse-summary"])["written_rows"] == "1"
    got = ok(http.post("/", content=f"SELECT a, n FROM {scratch} ORDER BY n FORMAT CSV")).text
    assert got == '"a",1\n"b",2\n"c",3\n"d",4\n"e",5\n"f",6\n"g",7\n'
    # bad data: the engine's parse error, status 400, and no row of the batch written
    bad = http.post("/", params=csv, content=b"h,8\ni,not-a-number\n")
    failed(bad, 117, "INCORRECT_DATA", 400)
    assert ok(http.post("/", content=f"SELECT count() FROM {scratch}")).text == "7\n"


def test_avro_body_through_input(http: httpx.Client, scratch: str) -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "word", "type": "string"}, {"name": "num", "type": "long"}],
    }
    buf = io.BytesIO()
    fastavro.writer(buf, schema, [{"word": "x", "num": 10}, {"word": "y", "num": 11}])
    sql = (
        f"INSERT INTO {scratch} SELECT upper(word), num * 2 "
        "FROM input('word String, num Int64') FORMAT Avro"
    )
    done = ok(http.post("/", params={"query": sql}, content=buf.getvalue()))
    assert json.loads(done.headers["x-clickhouse-summary"])["written_rows"] == "2"
    inferred = f"INSERT INTO {scratch} SELECT word, num FROM input() FORMAT Avro"
    ok(http.post("/", params={"query": inferred}, content=buf.getvalue()))
    got = ok(http.post("/", content=f"SELECT a, n FROM {scratch} ORDER BY n, a FORMAT CSV")).text
    assert got == '"x",10\n"y",11\n"X",20\n"Y",22\n'


def test_response_compression(http: httpx.Client) -> None:
    params = {"query": "SELECT number FROM numbers(1000)", "enable_http_compression": "1"}
    zipped = ok(http.get("/", params=params, headers={"Accept-Encoding": "gzip"}))
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.text.splitlines()[-1] == "999"  # httpx decoded it
    raw = ok(http.get("/", params=params, headers={"Accept-Encoding": "zstd"}))
    assert raw.headers["content-encoding"] == "zstd"
    assert "content-encoding" not in ok(http.get("/", params={"query": "SELECT 1"})).headers


def test_large_results_stream(http: httpx.Client) -> None:
    lines = 0
    sql = "SELECT number, toString(number) FROM numbers(2000000)"
    with http.stream("POST", "/", content=sql) as response:
        assert response.status_code == 200 and "x-clickhouse-exception-tag" in response.headers
        for _line in response.iter_lines():
            lines += 1
    assert lines == 2_000_000


def test_error_after_the_first_bytes_is_tagged(http: httpx.Client) -> None:
    sql = "SELECT throwIf(number = 1500000) FROM numbers(3000000)"
    response = http.post("/", content=sql)
    if response.status_code == 200:  # the error came after the first chunk was sent
        tag = response.headers["x-clickhouse-exception-tag"]
        assert response.content.endswith(f" {tag}\r\n__exception__\r\n".encode())
        assert f"__exception__\r\n{tag}\r\nCode: 395. DB::Exception: ".encode() in response.content
    else:
        failed(response, 395, "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", 500)
    buffered = http.post("/?wait_end_of_query=1", content=sql)
    failed(buffered, 395, "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", 500)


def test_set_and_use_last_one_request(http: httpx.Client) -> None:
    """Without a ClickHouse session, SET and USE change nothing for later requests."""
    for _ in range(3):
        ok(http.post("/", content="USE system"))
        ok(http.post("/", content="SET max_threads = 1"))
        assert ok(http.post("/", content="SELECT currentDatabase()")).text == "somagent\n"
        got = ok(http.post("/", content="SELECT getSetting('max_threads') = 1")).text
        assert got == "0\n"


def test_a_failed_statement_leaves_nothing_behind(http: httpx.Client) -> None:
    """chDB 4.4 prepends a failed query's partial output to the next result on the
    same connection; the service never reuses a connection after an error."""
    failing = "SELECT throwIf(number = 1500000) FROM numbers(3000000)"
    for _ in range(3):
        assert http.post("/?wait_end_of_query=1", content=failing).status_code == 500
        assert ok(http.post("/", content="SELECT 42")).text == "42\n"
        assert ok(http.post("/", content="SELECT 'x' FORMAT JSONEachRow")).text == '{"\'x\'":"x"}\n'


def test_a_second_owner_is_refused_clearly(analytics: Analytics) -> None:
    """The directory has one owner: a second service exits 1 with the reason, no traceback."""
    second = analytics.settings.model_copy(update={"clickhouse_http_port": free_port()})
    done = subprocess.run(
        [sys.executable, "-m", "somagent.cli", "serve", "analytics"],
        env={**os.environ, **second.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "another process owns it" in done.stderr and "Traceback" not in done.stderr
    assert httpx.get(f"{analytics.url}/ping").text == "Ok.\n"  # the owner carries on
