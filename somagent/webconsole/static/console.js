// The SomaGent Stream console: logs in, then renders every panel from the edge's
// snapshot stream (/console/api/stream, Server-Sent Events). Charts: Chart.js,
// served from /console/static (installed from npm at build time, no CDN).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { source: null, charts: {}, last: null, renders: 0 };
window.consoleState = state; // read by the browser test

const COLORS = ["#4fb3ff", "#ffb454", "#6bdc8b", "#ff6b6b", "#c792ea", "#f07178", "#89ddff", "#e6c07b"];

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function fmt(n, digits = 1) {
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits });
}

function tenantLabel(doc, id) {
  const name = (doc.tenants || {})[id];
  return name ? `${name} (${id.slice(0, 8)})` : id.slice(0, 8);
}

function rows(testid, list, cells) {
  const body = document.querySelector(`[data-testid="${testid}"] tbody`);
  body.innerHTML = (list || []).map((item) => `<tr>${cells(item).join("")}</tr>`).join("");
}

const td = (v, cls = "") => `<td class="${cls}">${v}</td>`;
const num = (v, key) => `<td class="num" data-key="${key}">${v}</td>`;

function chart(id, type, data, options = {}) {
  const existing = state.charts[id];
  if (existing) {
    existing.data = data;
    existing.update("none");
    return existing;
  }
  const made = new Chart(document.getElementById(id), {
    type, data,
    options: Object.assign({
      animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { labels: { color: "#dde3ea", boxWidth: 12 } } },
      scales: {
        x: { ticks: { color: "#8a97a6" }, grid: { color: "#243040" } },
        y: { ticks: { color: "#8a97a6" }, grid: { color: "#243040" }, beginAtZero: true },
      },
    }, options),
  });
  state.charts[id] = made;
  return made;
}

function renderLatency(doc) {
  const lat = doc.latency || {};
  const kinds = ["turn", "tool", "recall"];
  rows("latency", kinds.filter((k) => lat[k]), (k) => [
    `<th data-kind="${k}">${k}</th>`, num(lat[k].count, "count"), num(fmt(lat[k].p50_ms), "p50_ms"),
    num(fmt(lat[k].p95_ms), "p95_ms"), num(fmt(lat[k].p99_ms), "p99_ms")]);
  chart("chart-latency", "bar", {
    labels: kinds,
    datasets: ["p50_ms", "p95_ms", "p99_ms"].map((q, i) => ({
      label: q.replace("_ms", "").toUpperCase(), backgroundColor: COLORS[i],
      data: kinds.map((k) => (lat[k] ? lat[k][q] : 0)),
    })),
  });
}

function renderThroughput(doc) {
  const points = doc.throughput || [];
  const sum = (key) => points.reduce((acc, p) => acc + p[key], 0);
  $('[data-testid="turns-total"]').textContent = sum("turns");
  $('[data-testid="errors-total"]').textContent = sum("turn_errors") + sum("tool_errors");
  const nowMinute = Math.floor(doc.as_of_us / 60e6) * 60;
  const recent = points.filter((p) => p.minute_s >= nowMinute - 60);
  const lastFull = recent.filter((p) => p.minute_s === nowMinute - 60).reduce((a, p) => a + p.turns, 0);
  $('[data-testid="turns-per-s"]').textContent = fmt(lastFull / 60, 3);
  const labels = points.map((p) => new Date(p.minute_s * 1000).toISOString().slice(11, 16));
  chart("chart-throughput", "line", {
    labels,
    datasets: [
      { label: "turns", data: points.map((p) => p.turns), borderColor: COLORS[0], backgroundColor: COLORS[0] },
      { label: "failed turns", data: points.map((p) => p.turn_errors), borderColor: COLORS[3], backgroundColor: COLORS[3] },
      { label: "failed tool calls", data: points.map((p) => p.tool_errors), borderColor: COLORS[1], backgroundColor: COLORS[1] },
    ],
  });
}

function renderSpend(doc) {
  const spend = doc.spend || { hourly: [], daily: [] };
  const tenants = [...new Set([...spend.hourly, ...spend.daily].map((r) => r.tenant))].sort();
  const unit = $("#spend-unit").value;
  const label = unit === "tokens" ? "tokens" : "¢";
  for (const [key, id, cut] of [["hourly", "chart-spend-hourly", [11, 16]], ["daily", "chart-spend-daily", [0, 10]]]) {
    const buckets = [...new Set(spend[key].map((r) => r.start))].sort();
    const made = chart(id, "bar", {
      labels: buckets.map((b) => b.slice(cut[0], cut[1]) + (key === "hourly" ? "h" : "")),
      datasets: tenants.map((t, i) => ({
        label: tenantLabel(doc, t), backgroundColor: COLORS[i % COLORS.length],
        data: buckets.map((b) => spend[key].filter((r) => r.tenant === t && r.start === b).reduce((a, r) => a + r[unit], 0)),
      })),
    }, { scales: { x: { stacked: true, ticks: { color: "#8a97a6" } }, y: { stacked: true, beginAtZero: true, ticks: { color: "#8a97a6" }, title: { display: true, text: `${label} per ${key === "hourly" ? "hour" : "day"}`, color: "#8a97a6" } } } });
    made.options.scales.y.title.text = `${label} per ${key === "hourly" ? "hour" : "day"}`;
    made.update("none");
  }
  const total = (list, t, k) => list.filter((r) => r.tenant === t).reduce((a, r) => a + r[k], 0);
  rows("spend", tenants, (t) => [`<td data-tenant="${t}">${esc(tenantLabel(doc, t))}</td>`,
    num(total(spend.hourly, t, "cost_cents"), "cost_cents_24h"), num(total(spend.hourly, t, "tokens"), "tokens_24h"),
    num(total(spend.daily, t, "cost_cents"), "cost_cents_7d")]);
}

function renderTables(doc) {
  rows("topics", doc.topics, (r) => [td(esc(r.topic)), num(r.events, "events"), num(r.last_minute, "last_minute"), num(fmt(r.per_s, 3), "per_s")]);
  rows("budget", doc.budget_burn, (r) => [`<td data-tenant="${r.tenant}">${esc(tenantLabel(doc, r.tenant))}</td>`,
    num(r.sessions, "sessions"), num(`${r.spent_tokens} / ${r.budget_tokens}`, "spent_budget"),
    num(fmt(r.burn * 100, 2) + "%", "burn"), num(r.over_budget, "over_budget")]);
  rows("denials", doc.denials, (r) => [td(esc(r.rule)), num(r.denials, "denials")]);
  chart("chart-denials", "bar", {
    labels: (doc.denials || []).map((r) => r.rule),
    datasets: [{ label: "denials", backgroundColor: COLORS[3], data: (doc.denials || []).map((r) => r.denials) }],
  }, { indexAxis: "y", plugins: { legend: { display: false } } });
  rows("tools", doc.slow_tools, (r) => [td(esc(r.tool)), num(r.calls, "calls"), num(r.failures, "failures"), num(fmt(r.p95_ms), "p95_ms"), num(r.max_ms, "max_ms")]);
  rows("slow-turns", doc.slow_turns, (r) => [
    `<td><a href="/console/api/turns/${r.turn}/trail" data-turn="${r.turn}" class="trail-link">${r.turn.slice(0, 8)}…</a></td>`,
    td(esc(tenantLabel(doc, r.tenant))), num(r.duration_ms, "duration_ms"), num(r.steps, "steps"),
    td(new Date(r.ts_us / 1000).toISOString().slice(11, 19))]);
  const jobs = doc.jobs || { by_status: {}, running: [], waiting_approvals: 0 };
  $('[data-testid="jobs-running"]').textContent = jobs.by_status.running || 0;
  $('[data-testid="jobs-waiting"]').textContent = jobs.waiting_approvals;
  rows("jobs", jobs.running, (r) => [td(esc(r.name) + ` <small>${r.job.slice(0, 8)}</small>`), td(esc(tenantLabel(doc, r.tenant))),
    num(`${r.steps_completed}/${r.steps_total}`, "steps"), td(r.submitted_at.slice(11, 19))]);
  rows("ranking", doc.ranking, (r) => [num(r.rank, "rank"), td(esc(r.agent_id || r.agent || "")), td(esc(r.version || "")),
    num(r.turns, "turns"), num(fmt(r.score, 3), "score"), num(fmt(r.p95_latency_ms || 0), "p95_ms")]);
  const services = (doc.services && doc.services.instances) || [];
  rows("services", services, (s) => [td(esc(s.name)), td(esc(s.state)), num(s.restarts, "restarts"), num(s.lag_total, "lag"),
    `<td class="payload">${(s.histograms || []).map((h) => `${esc(h.metric)} ${fmt(h.p95 * 1000)} ms (n=${h.count})`).join("<br>") || esc(s.metrics_error || "–")}</td>`]);
}

function render(doc) {
  state.last = doc;
  renderLatency(doc);
  renderThroughput(doc);
  renderSpend(doc);
  renderTables(doc);
  const errors = Object.entries(doc.errors || {}).map(([k, v]) => `${k}: ${v}`);
  $("#errors").textContent = errors.length ? "Panels unavailable — " + errors.join("; ") : "";
  $('[data-testid="as-of"]').textContent = new Date(doc.as_of_us / 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  $('[data-testid="elapsed"]').textContent = doc.elapsed_ms;
  state.renders += 1;
  document.body.dataset.renders = String(state.renders);
}

async function showTrail(turn) {
  const reply = await fetch(`/console/api/turns/${turn}/trail`, { credentials: "same-origin" });
  const body = await reply.json();
  $("#trail").hidden = false;
  $("#trail-turn").textContent = turn;
  rows("trail", reply.ok ? body.events : [], (e) => [
    td(new Date(e.ts_us / 1000).toISOString().slice(11, 23)), td(esc(e.topic)), td(`${e.partition}-${e.offset}`),
    num(e.seq, "seq"), `<td data-key="type">${esc(e.type)}</td>`, `<td class="payload" title="${esc(JSON.stringify(e.payload))}">${esc(JSON.stringify(e.payload).slice(0, 140))}</td>`]);
  if (!reply.ok) $("#errors").textContent = body.detail || "trail unavailable";
  $("#trail").scrollIntoView();
}

function connect() {
  if (state.source) state.source.close();
  const live = $("#live");
  const source = new EventSource(`/console/api/stream?window_s=${$("#window").value}`);
  state.source = source;
  source.addEventListener("snapshot", (event) => {
    live.textContent = "live"; live.className = "ok";
    render(JSON.parse(event.data));
  });
  source.addEventListener("logout", () => { source.close(); showLogin("Your credential is no longer valid."); });
  source.onerror = () => { live.textContent = "reconnecting…"; live.className = "down"; };
}

function showLogin(message = "") {
  $("#login").hidden = false;
  $("#panels").hidden = true;
  $("#controls").hidden = true;
  $("#who").textContent = "";
  $("#login-error").textContent = message;
}

function showConsole(viewer) {
  $("#login").hidden = true;
  $("#panels").hidden = false;
  $("#controls").hidden = false;
  document.body.classList.toggle("tenant", viewer.kind !== "operator");
  $("#who").textContent = viewer.kind === "operator" ? "operator · every tenant" : `tenant admin · ${viewer.tenant_name} (${viewer.tenant})`;
  connect();
}

async function start() {
  const reply = await fetch("/console/api/whoami", { credentials: "same-origin" });
  if (reply.ok) showConsole((await reply.json()).viewer);
  else showLogin();
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reply = await fetch("/console/login", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ credential: $("#credential").value }),
  });
  if (reply.ok) { $("#credential").value = ""; showConsole((await reply.json()).viewer); }
  else showLogin((await reply.json()).detail || "login failed");
});
$("#logout").addEventListener("click", async () => {
  if (state.source) state.source.close();
  await fetch("/console/logout", { method: "POST", credentials: "same-origin" });
  showLogin();
});
$("#window").addEventListener("change", connect);
$("#spend-unit").addEventListener("change", () => { if (state.last) renderSpend(state.last); });
$("#trail-close").addEventListener("click", () => { $("#trail").hidden = true; });
document.addEventListener("click", (event) => {
  const link = event.target.closest("a.trail-link");
  if (link) { event.preventDefault(); showTrail(link.dataset.turn); }
});
start();
