"""The console in a real browser (Debian's headless Chromium) against a live platform.

A whole platform (`somagent up`: every role as its own process) in a fresh data
directory takes a small real load: two tenants run turns with the ``calc`` tool,
provoke policy denials and (tenant A) start a job that waits for an approval.
Then Chromium logs in at ``/console`` and the tests check that the panels show
the figures the read models hold, computed again here from raw SQL rows
(ClickHouse ``events``, Postgres ``usage_ledger``/``sessions``/``jobs``), that
the page refreshes live over SSE when another turn runs, that a slow-turn row
opens the turn's trail, and that a tenant admin's console never carries another
tenant's data. ``SOMAGENT_CONSOLE_SCREENSHOT=<path>`` also saves the screenshot
there (``docs/console.png`` is made that way).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_helpers import (
    CHROMIUM,
    Tenant,
    as_number,
    clickhouse_rows,
    exact_quantile,
    new_tenant,
    pg_rows,
    publish_and_use_agent,
    run_turn,
    somagent,
    submit_waiting_job,
    uuid4,
)
from playwright.sync_api import Browser, Page, sync_playwright

from somagent.config import Settings
from somagent.credentials import operator_token
from somagent.stack.testing import fresh_stack_settings
from somagent.wait import until
from somagent.webconsole.histograms import summarise

pytestmark = pytest.mark.integration

QUESTIONS = ("What is 6 * 7?", "What is 17 * 23?", "What is (1/3 + 1/6) * 3?")


@dataclass
class Load:
    settings: Settings
    a: Tenant
    b: Tenant
    turns: dict[str, list[str]]
    job: str


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = fresh_stack_settings(tmp_path_factory.mktemp("console-home"))
    try:
        started = somagent(settings, "up", "--workers", "1", "--jobs", "1")
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-4000:]
        yield settings
    finally:
        somagent(settings, "down")


def _billed(settings: Settings, tenant: str) -> bool:
    """Every token the tenant's turns recorded is in closed ledger windows."""
    recorded = clickhouse_rows(
        settings, "SELECT sum(visitParamExtractInt(payload, 'tokens')) AS t FROM events FINAL "
        "WHERE type = 'UsageRecorded' AND tenant = {t:String}", {"t": tenant})[0]["t"]
    ledger = pg_rows(settings, "SELECT coalesce(sum(tokens), 0) AS t FROM usage_ledger "
                     "WHERE tenant_id = $1::uuid", tenant)[0]["t"]
    return int(recorded or 0) > 0 and int(ledger) == int(recorded)


def _completed(settings: Settings, tenant: str) -> int:
    return int(clickhouse_rows(
        settings, "SELECT count() AS n FROM events FINAL WHERE type = 'TurnCompleted' "
        "AND tenant = {t:String}", {"t": tenant})[0]["n"])


@pytest.fixture(scope="module")
def load(platform: Settings) -> Load:
    with httpx.Client(base_url=platform.api_url, timeout=120) as client:
        a = new_tenant(platform, client, f"console-a-{uuid4()[:6]}")
        b = new_tenant(platform, client, f"console-b-{uuid4()[:6]}")
        turns = {a.tenant_id: [run_turn(client, a, q) for q in QUESTIONS],
                 b.tenant_id: [run_turn(client, b, q) for q in QUESTIONS[:2]]}
        for t in (a, b):  # a denial for each tenant: a turn that is not there
            assert client.get(f"/v1/turns/{uuid4()}/events", headers=t.auth).status_code == 404
        job = submit_waiting_job(client, a)
        turns[a.tenant_id].append(publish_and_use_agent(client, a, f"console-helper-{uuid4()[:6]}"))
    until(lambda: all(_completed(platform, t) == len(ids) for t, ids in turns.items()),
          timeout_s=120, what="the turns in ClickHouse")
    until(lambda: _billed(platform, a.tenant_id) and _billed(platform, b.tenant_id),
          timeout_s=240, what="every recorded token in the usage ledger")
    until(lambda: pg_rows(platform, "SELECT count(*) AS n FROM job_steps WHERE job_id = $1::uuid "
                          "AND status = 'waiting'", job)[0]["n"] == 1,
          timeout_s=120, what="the job waiting for its approval")
    return Load(platform, a, b, turns, job)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run SOMAGENT_WITH_BROWSER=1 infra/sysdeps.sh")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


def _login(browser: Browser, settings: Settings, credential: str) -> tuple[Page, float]:
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    started = time.perf_counter()
    page.goto(settings.api_url + "/console")
    page.fill("#credential", credential)
    page.click("#login-form button[type=submit]")
    page.wait_for_function("Number(document.body.dataset.renders || 0) >= 1", timeout=60_000)
    return page, time.perf_counter() - started


def _cells(page: Page, testid: str) -> list[dict[str, str]]:
    """Each row of a panel's table: its ``data-key`` cells (and ``_first``: the first cell)."""
    return page.evaluate(
        """(id) => [...document.querySelectorAll(`[data-testid="${id}"] tbody tr`)].map((tr) => {
             const t = tr.querySelector("[data-tenant]");
             const row = {_first: tr.children[0].textContent.trim(),
                          _tenant: t ? t.dataset.tenant : undefined};
             for (const c of tr.querySelectorAll("[data-key]")) row[c.dataset.key] = c.textContent;
             return row; })""", testid)


def _text(page: Page, testid: str) -> str:
    return str(page.inner_text(f'[data-testid="{testid}"]'))


def _values(settings: Settings, sql: str, since_us: int) -> list[float]:
    return [float(r["v"]) for r in clickhouse_rows(settings, sql, {"since": since_us})]


DURATIONS = {
    "turn": "SELECT toFloat64(visitParamExtractInt(payload, 'duration_ms')) AS v FROM events FINAL "
            "WHERE type = 'TurnCompleted' AND ts_us >= {since:Int64}",
    "tool": "SELECT toFloat64(visitParamExtractInt(payload, 'duration_ms')) AS v FROM events FINAL "
            "WHERE type = 'ToolCallCompleted' AND ts_us >= {since:Int64}",
    "recall": "SELECT latency_us / 1000 AS v FROM turn_step_latency "
              "WHERE step_type = 'TurnRecalled' AND ts_us >= {since:Int64}",
}


def _check_latency(page: Page, doc: dict[str, Any], settings: Settings) -> None:
    shown = {r["_first"]: r for r in _cells(page, "latency")}
    assert set(shown) == {"turn", "tool", "recall"}
    for kind, sql in DURATIONS.items():
        values = _values(settings, sql, doc["since_us"])
        assert int(shown[kind]["count"]) == len(values) > 0, kind
        for q, key in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
            assert as_number(shown[kind][key]) == pytest.approx(exact_quantile(values, q), abs=0.06)
    p95s = page.evaluate("Chart.getChart('chart-latency').data.datasets[1].data")
    assert p95s == [doc["latency"][k]["p95_ms"] for k in ("turn", "tool", "recall")]


def _check_money(page: Page, load: Load) -> None:
    spend = {r["_tenant"]: r for r in _cells(page, "spend")}
    burn = {r["_tenant"]: r for r in _cells(page, "budget")}
    for t in (load.a.tenant_id, load.b.tenant_id):
        ledger = pg_rows(load.settings, "SELECT sum(cost_cents) AS c, sum(tokens) AS k "
                         "FROM usage_ledger WHERE tenant_id = $1::uuid", t)[0]
        assert int(spend[t]["cost_cents_24h"].replace(",", "")) == int(ledger["c"])
        assert int(spend[t]["tokens_24h"].replace(",", "")) == int(ledger["k"])
        budget = pg_rows(load.settings, "SELECT sum(token_budget) AS b FROM sessions "
                         "WHERE tenant_id = $1::uuid AND expires_at > now()", t)[0]["b"]
        assert burn[t]["spent_budget"] == f"{int(ledger['k'])} / {int(budget)}"


def _check_tables(page: Page, doc: dict[str, Any], load: Load) -> None:
    s = load.settings
    denials = {r["_first"]: int(r["denials"]) for r in _cells(page, "denials")}
    found = clickhouse_rows(
        s, "SELECT count() AS n FROM events FINAL WHERE type = 'PolicyDenied' AND "
        "visitParamExtractString(payload, 'reason_code') = 'turn-not-found' "
        "AND ts_us >= {since:Int64}", {"since": doc["since_us"]})[0]["n"]
    assert denials["turn-not-found"] == int(found) >= 2
    tools = {r["_first"]: r for r in _cells(page, "tools")}
    calls = _values(s, DURATIONS["tool"], doc["since_us"])
    assert int(tools["calc"]["calls"]) == len(calls) and int(tools["calc"]["max_ms"]) == max(calls)
    slow = _cells(page, "slow-turns")
    all_turns = {t for ids in load.turns.values() for t in ids}
    assert {r["_first"].rstrip("…") for r in slow} <= {t[:8] for t in all_turns}
    longest = pg_rows(s, "SELECT max(duration_ms) AS d FROM turns")[0]["d"]
    assert int(slow[0]["duration_ms"]) == int(longest)  # Postgres' read model agrees
    jobs = pg_rows(s, "SELECT count(*) FILTER (WHERE status = 'running') AS r FROM jobs")[0]
    assert int(_text(page, "jobs-running")) == int(jobs["r"]) == 1
    assert int(_text(page, "jobs-waiting")) == 1
    ranked = {r["agent"]: int(r["n"]) for r in clickhouse_rows(
        s, "SELECT agent, count() AS n FROM agent_version_turns GROUP BY agent", {})}
    shown = {r["_first"]: r for r in _cells(page, "ranking")}
    assert len(ranked) == 1 and {r["agent_id"] for r in doc["ranking"]} == set(ranked)
    assert [int(shown["1"]["turns"])] == list(ranked.values())
    conv = clickhouse_rows(s, "SELECT count() AS n FROM events FINAL WHERE topic = "
                           "'conversation.events' AND ts_us >= {since:Int64}",
                           {"since": doc["since_us"]})[0]["n"]
    topics = {r["_first"]: r for r in _cells(page, "topics")}
    assert int(topics["conversation.events"]["events"].replace(",", "")) == int(conv)
    services = {r["_first"] for r in _cells(page, "services")}
    state = json.loads((s.home_dir / "run" / "platform.json").read_text())
    assert services == {row["name"] for row in state["instances"]}
    health = {row["name"]: row["health_url"] for row in state["instances"]}
    for instance in doc["services"]["instances"]:  # each role's own /metrics, scraped here too
        assert "metrics_error" not in instance, instance
        scraped = httpx.get(health[instance["name"]].rsplit("/", 1)[0] + "/metrics").text
        assert {h["metric"] for h in instance["histograms"]} == {
            h.name for h in summarise(scraped)}, instance["name"]


def test_operator_console_shows_the_real_figures_live(load: Load, browser: Browser) -> None:
    s = load.settings
    page, load_s = _login(browser, s, operator_token(s.home_dir))
    doc = page.evaluate("window.consoleState.last")
    assert doc["errors"] == {}, doc["errors"]
    assert "operator" in _text(page, "viewer")
    _check_latency(page, doc, s)
    _check_money(page, load)
    _check_tables(page, doc, load)
    assert int(_text(page, "turns-total")) == sum(len(v) for v in load.turns.values())

    # Live: one more turn reaches the open page over SSE, no reload.
    with httpx.Client(base_url=s.api_url, timeout=120) as client:
        load.turns[load.a.tenant_id].append(run_turn(client, load.a, "What is 9 * 9?"))
    expected = sum(len(v) for v in load.turns.values())
    page.wait_for_function(
        f"document.querySelector('[data-testid=\"turns-total\"]').textContent === '{expected}'",
        timeout=90_000)

    # One click from a slow-turn row to the turn's trail (the `somagent audit` view).
    link = page.locator("a.trail-link").first
    turn = str(link.get_attribute("data-turn"))
    link.click()
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=\"trail\"] tbody tr').length > 0")
    shown = page.eval_on_selector_all('[data-testid="trail"] td[data-key="type"]',
                                      "cells => cells.map(c => c.textContent)")
    stored = clickhouse_rows(s, "SELECT type FROM events FINAL WHERE turn = {t:String} "
                             "ORDER BY ts_us, seq, topic, kafka_partition, kafka_offset",
                             {"t": turn})
    assert shown == [r["type"] for r in stored] and "TurnCompleted" in shown
    assert "TurnRequested" in shown and "ToolCallCompleted" in shown

    # The spend charts in tokens: tenant B's bars add up to its ledger tokens (B ran no more).
    page.select_option("#spend-unit", "tokens")
    bars = page.evaluate("Object.fromEntries(Chart.getChart('chart-spend-hourly').data.datasets"
                         ".map((d) => [d.label, d.data.reduce((a, v) => a + v, 0)]))")
    b_tokens = pg_rows(s, "SELECT sum(tokens) AS k FROM usage_ledger WHERE tenant_id = $1::uuid",
                       load.b.tenant_id)[0]["k"]
    assert bars[f"{load.b.name} ({load.b.tenant_id[:8]})"] == int(b_tokens) > 0

    shot = Path(os.environ.get("SOMAGENT_CONSOLE_SCREENSHOT") or s.home_dir / "console.png")
    page.screenshot(path=str(s.home_dir / "console.png"), full_page=True)
    if shot != s.home_dir / "console.png":
        shutil.copyfile(s.home_dir / "console.png", shot)
    print(json.dumps({"console_page_load_to_first_render_s": round(load_s, 3),
                      "snapshot_elapsed_ms": doc["elapsed_ms"]}))


def _tenants_in(doc: dict[str, Any]) -> set[str]:
    found = set(doc["tenants"])
    found |= {r["tenant"] for key in ("hourly", "daily") for r in doc["spend"][key]}
    found |= {r["tenant"] for r in doc["budget_burn"]} | {r["tenant"] for r in doc["slow_turns"]}
    return found | {r["tenant"] for r in doc["jobs"]["running"]}


def test_a_tenant_admin_sees_only_its_tenant(load: Load, browser: Browser) -> None:
    s, a, b = load.settings, load.a, load.b
    page, _ = _login(browser, s, b.api_key)
    assert b.name in _text(page, "viewer")
    # The stream's second snapshot (SSE) is as isolated as the first.
    page.wait_for_function("Number(document.body.dataset.renders) >= 2", timeout=60_000)
    doc = page.evaluate("window.consoleState.last")
    assert doc["errors"] == {}, doc["errors"]
    assert _tenants_in(doc) == {b.tenant_id} and "services" not in doc
    assert a.tenant_id not in json.dumps(doc) and a.name not in json.dumps(doc)
    assert a.tenant_id[:8] not in page.inner_text("body") and a.name not in page.inner_text("body")
    assert int(_text(page, "turns-total")) == len(load.turns[b.tenant_id])
    assert _cells(page, "services") == [] and page.is_hidden('[data-testid="services"]')
    status = page.evaluate("(t) => fetch(`/console/api/turns/${t}/trail`).then(r => r.status)",
                           load.turns[a.tenant_id][0])
    assert status == 404  # another tenant's turn has no trail for this viewer
    with httpx.Client(base_url=s.api_url, timeout=60,
                      headers={"Authorization": f"Bearer {b.api_key}"}) as client:
        body = client.get("/console/api/snapshot").json()
    assert _tenants_in(body) == {b.tenant_id} and a.tenant_id not in json.dumps(body)
    print(json.dumps(_latencies(s, {"operator": operator_token(s.home_dir),
                                    "tenant": b.api_key})))


def _latencies(settings: Settings, credentials: dict[str, str], n: int = 5) -> dict[str, float]:
    """Median wall time of ``n`` snapshot requests per viewer, and of ``/healthz`` (baseline).
    Printed for the report, never asserted."""
    out = {}
    with httpx.Client(base_url=settings.api_url, timeout=60) as client:
        for name, path, auth in (
            ("healthz", "/healthz", None),
            *((f"snapshot_{k}", "/console/api/snapshot", v) for k, v in credentials.items()),
        ):
            headers = {"Authorization": f"Bearer {auth}"} if auth else {}
            times = []
            for _ in range(n):
                started = time.perf_counter()
                assert client.get(path, headers=headers).status_code == 200
                times.append(time.perf_counter() - started)
            out[f"{name}_median_ms"] = round(sorted(times)[n // 2] * 1000, 1)
    return out


def test_bad_credentials_and_queries_are_problems(load: Load) -> None:
    s, b = load.settings, load.b
    with httpx.Client(base_url=s.api_url, timeout=60) as client:
        refused = client.post("/console/login", json={"credential": "sk_" + "x" * 43})
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/invalid-credential")
        assert client.post("/console/login", json={"nope": 1}).status_code == 422
        assert client.get("/console/api/snapshot").status_code == 401
        session = {"Authorization": f"Bearer {b.jwt}"}  # a session token is no console credential
        assert client.get("/console/api/whoami", headers=session).status_code == 401
        forged = client.get("/console/api/whoami",
                            headers={"Cookie": "somagent_console=e30.bad"})
        assert forged.status_code == 401 and forged.json()["type"].endswith("/invalid-credential")
        key = {"Authorization": f"Bearer {b.api_key}"}
        assert client.get("/console/api/snapshot?window_s=7", headers=key).status_code == 400
        assert client.get("/console/api/snapshot?x=1", headers=key).status_code == 400
        assert client.get("/console/api/turns/nope/trail", headers=key).status_code == 404
        logged = client.post("/console/login", json={"credential": b.api_key})
        assert logged.status_code == 200 and "httponly" in logged.headers["set-cookie"].lower()
        assert client.get("/console/api/whoami").json()["viewer"]["tenant"] == b.tenant_id

    # A disabled tenant's console cookie stops working at once (checked on every request).
    with httpx.Client(base_url=s.api_url, timeout=60) as client:
        c = new_tenant(s, client, f"console-c-{uuid4()[:6]}")
        assert client.post("/console/login", json={"credential": c.api_key}).status_code == 200
        assert client.get("/console/api/whoami").status_code == 200
        pg_rows(s, "UPDATE tenants SET disabled_at = now() WHERE tenant_id = $1::uuid "
                "RETURNING tenant_id", c.tenant_id)
        gone = client.get("/console/api/whoami")
        assert gone.status_code == 401 and gone.json()["type"].endswith("/invalid-credential")
