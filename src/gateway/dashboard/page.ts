/**
 * The dashboard page: plain HTML, CSS and a small script, no framework and no external
 * resource (the guard's Content-Security-Policy allows none). Every value from the API is
 * inserted as text, never as HTML, because client ids and routes come from requests.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Aegis guard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1b2430; background: #f5f7fa; }
  header { background: #14213d; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
  section { background: #fff; border: 1px solid #d9dee7; border-radius: 6px; padding: 12px 14px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eef1f5; vertical-align: top; }
  .cards { display: flex; gap: 12px; }
  .card { flex: 1; background: #f0f3f8; border-radius: 6px; padding: 8px 10px; }
  .card b { display: block; font-size: 22px; }
  .bad { color: #b42318; }
  button { cursor: pointer; }
  #login { max-width: 420px; margin: 80px auto; background: #fff; padding: 20px; border: 1px solid #d9dee7; border-radius: 6px; }
  #login input { width: 100%; box-sizing: border-box; padding: 6px; margin: 8px 0; }
  #error { color: #b42318; }
  .hidden { display: none; }
  svg { width: 100%; height: 80px; }
</style>
</head>
<body>
<header><h1>Aegis guard</h1><span id="status"></span><span style="flex:1"></span><button id="logout" class="hidden">Sign out</button></header>
<form id="login">
  <h2>Sign in</h2>
  <label>Admin API key or bearer token <input id="key" type="password" autocomplete="off" required></label>
  <button type="submit">Sign in</button>
  <p id="error"></p>
</form>
<main id="app" class="hidden">
  <section><h2>Traffic, last 5 minutes</h2>
    <div class="cards"><div class="card">requests<b id="total">0</b></div><div class="card">refused<b id="refused" class="bad">0</b></div><div class="card">open incidents<b id="open">0</b></div></div>
    <svg id="rate" viewBox="0 0 300 80" preserveAspectRatio="none" role="img" aria-label="requests per 10 seconds"></svg>
  </section>
  <section><h2>Blocked and throttled, by reason</h2><table id="refusals"><thead><tr><th>control</th><th>reason</th><th>requests</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Top clients</h2><table id="clients"><thead><tr><th>client</th><th>requests</th><th>refused</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Active incidents</h2><table id="incidents"><thead><tr><th>#</th><th>opened</th><th>detector</th><th>client</th><th>action</th><th></th></tr></thead><tbody></tbody></table></section>
  <section><h2>Detector alarms</h2><table id="alarms"><thead><tr><th>time</th><th>detector</th><th>client</th><th>route</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Audit log</h2>
    <form id="search"><input id="q" placeholder="client id, route, status, reason…" style="width:70%"> <button type="submit">Search</button></form>
    <table id="entries"><thead><tr><th>#</th><th>time</th><th>status</th><th>client</th><th>route</th><th>decisions</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let timer;
function token() { return sessionStorage.getItem("aegis-key"); }
async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { authorization: "Bearer " + token(), ...(init.headers || {}) } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((body.error && body.error.message) || ("HTTP " + res.status));
  return body;
}
function cell(row, value) { const td = document.createElement("td"); td.textContent = value === null || value === undefined ? "–" : String(value); row.appendChild(td); return td; }
function fill(id, rows, columns) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  for (const r of rows) { const tr = document.createElement("tr"); for (const c of columns) typeof c === "function" ? c(tr, r) : cell(tr, r[c]); body.appendChild(tr); }
}
function drawRate(rate) {
  const svg = $("rate");
  const max = Math.max(1, ...rate.map((r) => r.requests));
  const step = 300 / Math.max(1, rate.length - 1);
  const points = rate.map((r, i) => (i * step).toFixed(1) + "," + (78 - (76 * r.requests) / max).toFixed(1)).join(" ");
  svg.innerHTML = "";
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points || "0,78 300,78");
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#1f4e8c");
  line.setAttribute("stroke-width", "2");
  svg.appendChild(line);
}
async function refresh() {
  try {
    const o = await api("/admin/api/overview?minutes=5");
    $("total").textContent = o.statuses.reduce((a, s) => a + s.requests, 0);
    $("refused").textContent = o.statuses.filter((s) => s.status >= 400).reduce((a, s) => a + s.requests, 0);
    $("open").textContent = o.incidents.length;
    drawRate(o.rate);
    fill("refusals", o.refusals, ["control", "reason", "requests"]);
    fill("clients", o.topClients, ["client", "requests", "refused"]);
    fill("alarms", o.alarms, ["time", "control", "client", "route"]);
    fill("incidents", o.incidents, ["id", "openedAt", "detector", "client", "action", (tr, i) => {
      const td = cell(tr, "");
      const b = document.createElement("button");
      b.textContent = "Resolve";
      b.dataset.incident = String(i.id);
      b.onclick = async () => { b.disabled = true; await api("/admin/api/incidents/" + i.id + "/resolve", { method: "POST" }); refresh(); };
      td.appendChild(b);
    }]);
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("status").textContent = "error: " + e.message;
    if (/not valid|needs one of the roles/.test(e.message)) logout(e.message);
  }
}
async function search(event) {
  if (event) event.preventDefault();
  const r = await api("/admin/api/audit?q=" + encodeURIComponent($("q").value));
  fill("entries", r.entries, ["seq", "time", (tr, e) => cell(tr, e.entry.status), (tr, e) => cell(tr, e.entry.client), (tr, e) => cell(tr, e.entry.route),
    (tr, e) => cell(tr, (e.entry.decisions || []).map((d) => d.control + ":" + d.action + (d.reason ? "(" + d.reason + ")" : "")).join(" "))]);
}
function show(signedIn) { $("login").classList.toggle("hidden", signedIn); $("app").classList.toggle("hidden", !signedIn); $("logout").classList.toggle("hidden", !signedIn); }
function logout(message) { sessionStorage.removeItem("aegis-key"); clearInterval(timer); show(false); $("error").textContent = message || ""; }
async function start() {
  show(true);
  await refresh();
  if (!token()) return;
  await search();
  timer = setInterval(refresh, 2000);
}
$("login").onsubmit = (event) => { event.preventDefault(); sessionStorage.setItem("aegis-key", $("key").value.trim()); start(); };
$("logout").onclick = () => logout();
$("search").onsubmit = search;
if (token()) start();
</script>
</body>
</html>
`;
