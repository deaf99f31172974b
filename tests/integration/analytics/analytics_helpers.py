"""Start ``somagent serve analytics`` as a child process, and the tenants' data set.

The service gets a SOMAGENT_HOME of its own (so its chDB directory is not the
session stack's) and the session stack's Postgres (for tenant keys).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx

from somagent.analytics.client import HttpClickHouse
from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.credentials import operator_token, service_token
from somagent.stack.process import free_port
from somagent.wait import until


@dataclass
class Analytics:
    """A running analytics service."""

    settings: Settings
    proc: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def url(self) -> str:
        return self.settings.clickhouse_http_url

    @property
    def service_key(self) -> str:
        return service_token(self.settings.home_dir)

    @property
    def operator_key(self) -> str:
        return operator_token(self.settings.home_dir)

    def client(self, user: str, key: str, **kw: Any) -> HttpClickHouse:
        return HttpClickHouse(self.url, user=user, key=key, database="somagent", **kw)

    def service(self, tenant: str | None = None) -> HttpClickHouse:
        return self.client("service", self.service_key, tenant=tenant)

    def operator(self) -> HttpClickHouse:
        return self.client("operator", self.operator_key)

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]


def start_analytics(settings: Settings, home: Path) -> Analytics:
    """``somagent serve analytics`` under ``home`` on a free port, ready (``/ping``)."""
    child = settings.model_copy(update={"home": home, "clickhouse_http_port": free_port()})
    assert child.clickhouse_path.is_relative_to(home)
    log = (home / "analytics.log").open("wb")
    env = {**os.environ, **child.to_env()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "somagent.cli", "serve", "analytics"],
        env=env,
        stdout=log,
        stderr=log,
    )
    service = Analytics(child, proc, log)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"analytics exited {proc.returncode}: {service.log_text()}")
        return httpx.get(f"{service.url}/ping", timeout=2).text == "Ok.\n"

    until(ready, timeout_s=120, what=f"analytics on {service.url}")
    return service


def stop_analytics(service: Analytics) -> None:
    service.proc.terminate()
    try:
        service.proc.wait(30)
    except subprocess.TimeoutExpired:
        service.proc.kill()
        service.proc.wait(10)
    service.log.close()


@dataclass
class TenantData:
    """Two tenants with rows of their own, a disabled third, and invisible rows.

    Every row of tenant B carries the marker ``b-secret`` (event ids, payloads),
    and the invisible table ``projector_positions`` the marker ``secret-proj``:
    a response to tenant A that contains either has leaked.
    """

    a: str
    a_key: str
    b: str
    b_key: str
    disabled: str
    disabled_key: str
    a_events: int = 0
    b_events: int = 0
    secret_file: str = ""
    markers: tuple[str, ...] = field(default_factory=tuple)


async def _tenants(settings: Settings) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        made = []
        for name in ("analytics-a", "analytics-b", "analytics-off"):
            tenant, key = await create_tenant(conn, f"{name}-{uuid.uuid4().hex[:6]}", "pro", "eu")
            made.append((tenant.tenant_id, key))
        await conn.execute(
            "UPDATE tenants SET disabled_at = now() WHERE tenant_id = $1", uuid.UUID(made[2][0])
        )
        return made
    finally:
        await conn.close()


def event(tenant: str, event_id: str, kind: str = "TurnRequested", **extra: Any) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "type": kind,
        "ts_us": 1_700_000_000_000_000 + len(event_id),
        "tenant": tenant,
        "session": "s-" + event_id,
        "turn": "t-" + event_id[:3],
        "trace_id": "tr",
        "seq": extra.pop("seq", 0),
        "producer": "test",
        "topic": "conversation.events",
        "kafka_partition": 0,
        "kafka_offset": extra.pop("offset", 0),
        "payload": extra.pop("payload", "{}"),
    }
    row.update(extra)
    return row


def populate(settings: Settings, service: HttpClickHouse, scratch: Path) -> TenantData:
    """Create the tenants in Postgres, their rows in the service's tables, and a
    file under ``scratch`` whose content no tenant may read."""
    secret = f"file-secret-{uuid.uuid4().hex}"
    secret_file = scratch / "secret.txt"
    secret_file.write_text(secret + "\n")
    (a, a_key), (b, b_key), (off, off_key) = asyncio.run(_tenants(settings))
    usage = '{"agent":"%s","window_start":1700000040000000,"tokens":%d,"tool_calls":1,'
    usage += '"storage_bytes":0,"egress_bytes":0,"cost_cents":%d}'
    a_rows = [event(a, f"a-{i}", seq=i, offset=i) for i in range(3)]
    a_rows.append(event(a, "a-usage", "UsageWindowClosed", payload=usage % ("agent-a", 7, 1)))
    b_rows = [
        event(b, f"b-secret-{i}", seq=i, offset=i, payload='{"b-secret":1}') for i in range(4)
    ]
    b_rows.append(
        event(b, "b-secret-usage", "UsageWindowClosed", payload=usage % ("b-secret", 900, 50))
    )
    service.insert_json_rows("events", a_rows + b_rows)
    service.insert_json_rows(
        "projector_positions",
        [
            {
                "projector": "secret-proj",
                "topic": b,
                "kafka_partition": 0,
                "next_offset": 1,
                "updated_us": 1,
            }
        ],
    )
    markers = ("b-secret", "secret-proj", b, secret)
    return TenantData(
        a, a_key, b, b_key, off, off_key, len(a_rows), len(b_rows), str(secret_file), markers
    )
