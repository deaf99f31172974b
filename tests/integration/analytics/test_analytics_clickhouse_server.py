"""``HttpClickHouse`` against a real clickhouse-server's HTTP port (Debian's 18.16).

A private server on free loopback ports with its own temporary config and data
directory; the same DDL and queries the projectors use must work through it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from somagent.analytics.client import HttpClickHouse
from somagent.analytics.exceptions import ClickHouseError
from somagent.projections import chproj
from somagent.stack.process import free_port
from somagent.wait import until

pytestmark = pytest.mark.integration

_CONFIG = """<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>
  <tcp_port>{tcp}</tcp_port><http_port>{http}</http_port><listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path><users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>
"""
_USERS = """<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password>pw</password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("clickhouse-server") or (
        "/usr/sbin/clickhouse-server" if Path("/usr/sbin/clickhouse-server").exists() else None
    )
    if binary is None:
        pytest.skip(
            "clickhouse-server is not installed (make test installs it via infra/sysdeps.sh)"
        )
    d = tmp_path_factory.mktemp("clickhouse-server-http")
    tcp, http = free_port(), free_port()
    (d / "config.xml").write_text(_CONFIG.format(d=d, tcp=tcp, http=http))
    (d / "users.xml").write_text(_USERS)
    log = (d / "stdout.log").open("wb")
    proc = subprocess.Popen([binary, f"--config-file={d / 'config.xml'}"], stdout=log, stderr=log)
    url = f"http://default:pw@127.0.0.1:{http}/somagent_http"
    try:
        until(
            lambda: HttpClickHouse(url).version(), timeout_s=60, what=f"clickhouse-server on {http}"
        )
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_projector_contract_on_a_clickhouse_server(server_url: str) -> None:
    ch = HttpClickHouse(server_url)
    assert ch.version().startswith("18.")
    proj = chproj.ClickHouseProjector(ch, name="server-http")
    proj.ensure_tables()  # CREATE DATABASE goes without the database parameter
    columns = [
        ["e1", "e2"],
        ["T", "UsageWindowClosed"],
        [1_700_000_000_000_000, 1_700_000_060_000_000],
        ["t1", "t1"],
        ["s", "s"],
        ["", ""],
        ["tr", "tr"],
        [1, 2],
        ["p", "p"],
        ["topic", "topic"],
        [0, 0],
        [5, 6],
        [
            "{}",
            '{"agent":"a","window_start":1700000040000000,"tokens":9,"tool_calls":0,'
            '"storage_bytes":0,"egress_bytes":0,"cost_cents":3}',
        ],
    ]
    assert proj.apply_columns(columns, {("topic", 0): 7}) == 2  # JSONEachRow on 18.x
    assert proj.positions() == {("topic", 0): 7}
    assert set(proj.row_hashes()) == {"e1", "e2"}
    got = ch.query(
        "SELECT ts_us, toUInt64(18446744073709551615) AS top FROM events WHERE event_id = 'e2'"
    )
    assert got == [{"ts_us": 1_700_000_060_000_000, "top": 18446744073709551615}]  # quoted on 18.x
    assert ch.query("SELECT {s:String} AS s", {"s": "a\tb'\\"}) == [{"s": "a\tb'\\"}]
    assert [t["tokens"] for t in proj.usage_totals()] == [9]
    with pytest.raises(ClickHouseError) as raised:
        ch.query("SELECT * FROM no_such_table")
    assert raised.value.code == 60 and raised.value.name == "UNKNOWN_TABLE"
    with pytest.raises(ClickHouseError) as auth:
        HttpClickHouse(server_url.replace(":pw@", ":wrong@")).version()
    assert auth.value.code in (192, 193, 516)
    ch.close()
