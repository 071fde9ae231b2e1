/**
 * The dashboard's page: one HTML document with its style and a small vanilla script (no
 * build step). The script keeps the token it was opened with (`?token=`) in memory only,
 * polls the JSON API, follows the event stream, and draws the charts as inline SVG.
 * Everything from the server is inserted as text, never as HTML.
 *
 * @module
 */

/** What the page shows before its script runs. */
export interface PageOptions {
  instance: string;
  storage: string;
  scriptNonce: string;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #687087; --line: #e3e6ee; --ok: #2f8f5b;
  --bad: #c8423b; --accent: #3559c7; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: #f6f7fb; }
header { display: flex; align-items: baseline; gap: 12px; padding: 14px 24px; background: #fff;
  border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 18px; }
header .muted { color: var(--muted); }
#status { margin-left: auto; color: var(--muted); font-size: 12px; }
main { padding: 16px 24px; display: grid; gap: 16px; grid-template-columns: 1fr 1fr; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px;
  min-width: 0; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 14px; margin: 0 0 8px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; display: flex; gap: 8px; align-items: center; }
h2 .actions { margin-left: auto; text-transform: none; letter-spacing: 0; }
.counts { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; }
.count { text-align: center; padding: 8px; border-radius: 6px; background: #f6f7fb; }
.count b { display: block; font-size: 28px; font-variant-numeric: tabular-nums; }
.count span { color: var(--muted); font-size: 12px; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line);
  vertical-align: top; overflow-wrap: anywhere; }
th { color: var(--muted); font-weight: 500; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: var(--muted); font-style: italic; }
button { font: inherit; font-size: 12px; padding: 2px 10px; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--line); background: #fff; color: var(--accent); }
button:hover { border-color: var(--accent); }
button.danger { color: var(--bad); }
#events { max-height: 320px; overflow: auto; font: 12px/1.5 ui-monospace, monospace; }
#events div { white-space: pre; }
#events-status { text-transform: none; letter-spacing: 0; font-weight: 400; font-size: 12px; }
.sig-complete { color: var(--ok); }
.sig-error, .sig-timeout, .sig-interrupted, .sig-dropped { color: var(--bad); }
.sig-retrying, .sig-revoked, .sig-expired, .sig-canceled, .sig-locked, .sig-rate-limited {
  color: #b7791f; }
.chart { display: flex; gap: 12px; align-items: center; margin: 4px 0; }
.chart .name { flex: 0 0 200px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.chart .rate { color: var(--muted); font-size: 12px; }
.revoked { color: var(--bad); font-weight: 600; }
label.toggle { font-size: 12px; color: var(--muted); text-transform: none; letter-spacing: 0; }
code { font-size: 12px; }
`;

const SCRIPT = `
"use strict";
const params = new URLSearchParams(location.search);
const token = params.get("token");
if (token !== null) {
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
}
let showData = false;
const $ = (id) => document.getElementById(id);
const headers = (extra) => Object.assign(token ? { authorization: "Bearer " + token } : {}, extra || {});
const status = (text) => { $("status").textContent = text; };

async function get(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw new Error(response.status + " " + (await response.text()));
  return response.json();
}
async function post(path) {
  const response = await fetch(path, {
    method: "POST", body: "{}", headers: headers({ "content-type": "application/json" }),
  });
  if (!response.ok) {
    status("action failed: " + response.status);
    return false;
  }
  await refresh();
  return true;
}
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "onclick") node.onclick = value; else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const time = (ms) => ms === null || ms === undefined ? "-" : new Date(ms).toLocaleString();
const clock = (ms) => new Date(ms).toLocaleTimeString();
const ago = (ms) => {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? s + "s" : s < 3600 ? Math.floor(s / 60) + "m" : Math.floor(s / 3600) + "h";
};
function table(id, columns, rows, render) {
  const body = $(id);
  body.replaceChildren();
  if (rows.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: String(columns), class: "empty" }, "none")));
    return;
  }
  for (const row of rows) body.append(render(row));
}
let lastCounts = null;
async function refreshCounts() {
  const c = await get("/api/counts");
  // A list whose count changed is fetched again at once, not at the next full refresh.
  if (lastCounts && lastCounts.deadLetters !== c.deadLetters) refreshDead().catch(() => {});
  if (lastCounts && lastCounts.scheduled !== c.scheduled) refreshScheduled().catch(() => {});
  lastCounts = c;
  $("count-pending").textContent = c.pending;
  $("count-scheduled").textContent = c.scheduled;
  $("count-running").textContent = c.running;
  $("count-results").textContent = c.results;
  $("count-dead").textContent = c.deadLetters;
}
async function refreshScheduled() {
  const rows = await get("/api/scheduled" + (showData ? "?show=data" : ""));
  table("scheduled", 5, rows, (t) => el("tr", { "data-id": t.id },
    el("td", {}, t.task, showData && t.args ? el("div", {}, el("code", {}, t.args)) : ""),
    el("td", {}, el("code", {}, t.id.slice(0, 8))),
    el("td", {}, time(t.eta)),
    el("td", {}, t.revoked ? el("span", { class: "revoked" }, "revoked") : "scheduled"),
    el("td", {}, t.revoked
      ? el("button", { class: "restore", onclick: () => post("/api/scheduled/" + encodeURIComponent(t.id) + "/restore") }, "restore")
      : el("button", { class: "revoke danger", onclick: () => post("/api/scheduled/" + encodeURIComponent(t.id) + "/revoke") }, "revoke"))));
}
async function refreshPeriodic() {
  const rows = await get("/api/periodic");
  table("periodic", 5, rows, (p) => el("tr", { "data-task": p.task },
    el("td", {}, p.task), el("td", {}, el("code", {}, p.schedule)), el("td", {}, time(p.next)),
    el("td", {}, p.revoked ? el("span", { class: "revoked" }, "revoked") : "active"),
    el("td", {}, p.revoked
      ? el("button", { class: "restore", onclick: () => post("/api/periodic/" + encodeURIComponent(p.task) + "/restore") }, "restore")
      : el("button", { class: "revoke danger", onclick: () => post("/api/periodic/" + encodeURIComponent(p.task) + "/revoke") }, "revoke"))));
}
async function refreshDead() {
  const rows = await get("/api/dead-letters" + (showData ? "?show=data" : ""));
  table("dead", 5, rows, (d) => el("tr", { "data-id": d.id },
    el("td", {}, time(d.at)),
    el("td", {}, d.task === null ? el("span", { class: "empty" }, "unreadable") : d.task),
    el("td", {}, d.reason, showData && d.data ? el("div", {}, el("code", {}, d.data)) : ""),
    el("td", { class: "num" }, d.size + " B"),
    el("td", {}, el("button", { class: "requeue", onclick: () => post("/api/dead-letters/" + encodeURIComponent(d.id) + "/requeue") }, "requeue"))));
}
async function refreshConsumers() {
  const rows = await get("/api/consumers");
  table("consumers", 5, rows, (c) => el("tr", { "data-id": c.id },
    el("td", {}, (c.host || "?") + (c.pid !== undefined ? ":" + c.pid : "")),
    el("td", {}, c.workers + " × " + c.workerType),
    el("td", { class: "num" }, c.tasksDone),
    el("td", {}, c.current.map((t) => t.task).join(", ") || "idle"),
    el("td", {}, "up " + ago(c.started) + ", seen " + ago(c.seen) + " ago")));
}
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}
async function refreshStats() {
  const stats = await get("/api/stats");
  const box = $("charts");
  box.replaceChildren();
  const names = Object.keys(stats.tasks).sort();
  if (names.length === 0) {
    box.append(el("div", { class: "empty" }, "no completed or failed runs in the last 15 minutes"));
    return;
  }
  for (const name of names) {
    const { done, errors } = stats.tasks[name];
    const max = Math.max(1, ...done.map((d, i) => d + errors[i]));
    const width = 15 * 14, height = 36;
    const chart = svg("svg", { width, height, viewBox: "0 0 " + width + " " + height, role: "img" });
    done.forEach((d, i) => {
      chart.append(svg("rect", { x: i * 14, y: height - 1, width: 11, height: 1, fill: "#d5d9e4" }));
      const ok = (d / max) * height, bad = (errors[i] / max) * height;
      chart.append(svg("rect", { x: i * 14, y: height - ok - bad, width: 11, height: ok, fill: "#2f8f5b" }));
      chart.append(svg("rect", { x: i * 14, y: height - bad, width: 11, height: bad, fill: "#c8423b" }));
    });
    const total = done.reduce((a, b) => a + b, 0), failed = errors.reduce((a, b) => a + b, 0);
    const rate = total + failed === 0 ? 0 : (100 * failed) / (total + failed);
    box.append(el("div", { class: "chart", "data-task": name }, el("span", { class: "name" }, name), chart,
      el("span", { class: "rate" }, (total / 15).toFixed(1) + "/min, " + rate.toFixed(1) + "% errors")));
  }
}
function describe(e) {
  if (e.signal === "dropped") return [e.at, "dropped", e.count + " event(s) lost"];
  const extra = e.duration !== undefined ? " " + e.duration.toFixed(3) + "s" : "";
  return [e.at, e.signal, e.task + " " + e.id.slice(0, 8) + extra + (e.error ? " " + e.error : "")];
}
function showEvent(e) {
  const [at, signal, text] = describe(e);
  const list = $("events");
  list.prepend(el("div", {}, clock(at) + " ", el("span", { class: "sig-" + signal }, signal.padEnd(12)), " " + text));
  while (list.childElementCount > 200) list.lastElementChild.remove();
}
function follow() {
  const source = new EventSource("/api/events" + (token ? "?token=" + encodeURIComponent(token) : ""));
  let statsSoon = null;
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    showEvent(event);
    // A finished run changes the chart: redraw it shortly (once for a burst of events).
    if ((event.signal === "complete" || event.signal === "error") && statsSoon === null) {
      statsSoon = setTimeout(() => { statsSoon = null; refreshStats().catch(() => {}); }, 1000);
    }
    $("events-status").textContent = "live";
  };
  source.onerror = () => { $("events-status").textContent = "reconnecting"; };
}
async function refresh() {
  try {
    await Promise.all([refreshCounts(), refreshScheduled(), refreshPeriodic(), refreshDead()]);
    status("updated " + new Date().toLocaleTimeString());
  } catch (error) {
    status("cannot reach the dashboard: " + error.message);
  }
}
$("purge").onclick = () => { if (confirm("Remove every dead letter?")) post("/api/dead-letters/purge"); };
$("show-data").onchange = (event) => { showData = event.target.checked; refresh(); };
refresh();
refreshConsumers().catch(() => {});
refreshStats().catch(() => {});
follow();
setInterval(() => refreshCounts().catch(() => {}), 1000);
setInterval(() => refreshConsumers().catch(() => {}), 2000);
setInterval(refresh, 5000);
setInterval(() => refreshStats().catch(() => {}), 10000);
`;

/** The page's HTML. */
export function page(options: PageOptions): string {
  const instance = escapeHtml(options.instance);
  const storage = escapeHtml(options.storage);
  const count = (id: string, label: string) =>
    `<div class="count"><b id="count-${id}">–</b><span>${label}</span></div>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dewey · ${instance}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>Dewey</h1><span>instance <b>${instance}</b></span>
<span class="muted">${storage}</span><span id="status">loading…</span></header>
<main>
<section class="wide"><div class="counts">
${count("pending", "pending")}${count("scheduled", "scheduled")}${count("running", "running")}${
    count("results", "results")
  }${count("dead", "dead letters")}
</div></section>
<section class="wide"><h2>Throughput and errors, last 15 minutes</h2><div id="charts"></div></section>
<section><h2>Live events <span id="events-status" class="muted">connecting</span></h2>
<div id="events"></div></section>
<section><h2>Consumers</h2><table><thead><tr><th>host</th><th>workers</th><th>done</th>
<th>running</th><th>since</th></tr></thead><tbody id="consumers"></tbody></table></section>
<section><h2>Scheduled <span class="actions"><label class="toggle"><input type="checkbox"
id="show-data"> show arguments and messages</label></span></h2>
<table><thead><tr><th>task</th><th>id</th><th>eta</th><th>state</th><th></th></tr></thead>
<tbody id="scheduled"></tbody></table></section>
<section><h2>Periodic</h2><table><thead><tr><th>task</th><th>schedule</th><th>next run</th>
<th>state</th><th></th></tr></thead><tbody id="periodic"></tbody></table></section>
<section class="wide"><h2>Dead letters <span class="actions"><button id="purge" class="danger">purge
all</button></span></h2><table><thead><tr><th>when</th><th>task</th><th>reason</th><th>size</th>
<th></th></tr></thead><tbody id="dead"></tbody></table></section>
</main>
<script nonce="${escapeHtml(options.scriptNonce)}">${SCRIPT}</script>
</body>
</html>
`;
}
