"""The ClickHouse projector's DDL and queries on a real clickhouse-server (Debian's 18.16).

A private server is started on free loopback ports with its own temporary config
and data directory (not the system service); the same projector code fills it
through clickhouse-driver from the real log, and its content and usage totals
must equal the embedded chDB's.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from projection_helpers import PopulatedLog, caught_up, log_ends

from somagent.config import Settings
from somagent.kafka.admin import end_offsets, partitions_of
from somagent.kafka.reader import LogReader
from somagent.kafka.schema_log import kafka_codec
from somagent.projections import chproj
from somagent.projections.clickhouse import DriverClickHouse, connect
from somagent.projections.run import ProjectorThreads
from somagent.stack.process import free_port
from somagent.wait import until

pytestmark = pytest.mark.integration

_CONFIG = """<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>
"""
_USERS = """<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
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
    d = tmp_path_factory.mktemp("clickhouse-server")
    tcp, http = free_port(), free_port()
    (d / "config.xml").write_text(_CONFIG.format(d=d, tcp=tcp, http=http))
    (d / "users.xml").write_text(_USERS)
    log = (d / "stdout.log").open("wb")
    proc = subprocess.Popen([binary, f"--config-file={d / 'config.xml'}"], stdout=log, stderr=log)
    url = f"clickhouse://default:@127.0.0.1:{tcp}/somagent"
    try:
        until(
            lambda: DriverClickHouse(f"clickhouse://default:@127.0.0.1:{tcp}/default").version(),
            timeout_s=60,
            what=f"clickhouse-server on port {tcp}",
        )
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _tenant_filter(tenants: list[str]) -> str:
    return "has(splitByChar(',', {tenants:String}), tenant)"


def test_projector_ddl_and_queries_on_clickhouse_server(
    server_url: str, settings: Settings, populated: PopulatedLog, live: ProjectorThreads
) -> None:
    server = DriverClickHouse(server_url)
    assert server.version().startswith(("18.", "19.", "2"))
    proj = chproj.ClickHouseProjector(server, name="server")
    proj.ensure_tables()
    parts = partitions_of(settings, chproj.TOPICS)
    ends = end_offsets(settings, parts)
    reader = LogReader(
        settings,
        parts,
        proj.positions(),
        name="server",
        codec=kafka_codec(settings),
        dead_letters=False,
    )
    try:
        while not reader.caught_up(ends):
            proj.apply(reader.batch(20_000, 0.5), reader.positions)
    finally:
        reader.close()
    assert proj.positions() == {tp: reader.positions[tp] for tp in parts}
    until(lambda: caught_up(live, log_ends(settings)), timeout_s=120, what="live chDB caught up")

    embedded = connect(settings)
    tenants = {"tenants": ",".join(populated.tenants)}
    cols = ", ".join(chproj.CHECKSUM_COLUMNS)
    query = (
        f"SELECT event_id, toString(cityHash64({cols})) AS h FROM events FINAL "
        f"WHERE {_tenant_filter(populated.tenants)}"
    )
    on_server = {r["event_id"]: int(r["h"]) for r in server.query(query, tenants)}
    on_chdb = {r["event_id"]: int(r["h"]) for r in embedded.query(query, tenants)}
    assert len(on_server) >= 20 * len(populated.seeds) and on_server == on_chdb

    totals = (
        "SELECT tenant, toString(minute) AS minute, sum(tokens) AS tokens, sum(cost_cents) AS cost "
        f"FROM usage_by_minute WHERE {_tenant_filter(populated.tenants)} "
        "GROUP BY tenant, minute ORDER BY tenant, minute"
    )
    server_totals = [{k: str(v) for k, v in r.items()} for r in server.query(totals, tenants)]
    chdb_totals = [{k: str(v) for k, v in r.items()} for r in embedded.query(totals, tenants)]
    assert len(server_totals) == len(populated.tenants) and server_totals == chdb_totals

    latency = server.query(
        "SELECT count() AS steps, min(latency_us) AS lo FROM turn_step_latency "
        "WHERE turn = {turn:String}",
        {"turn": populated.turns[0]},
    )
    assert int(latency[0]["steps"]) >= 10 and int(latency[0]["lo"]) >= 0
    server.close()
