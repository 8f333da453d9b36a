// The live dashboard's page: one HTML document, no framework. uPlot draws the charts; a small
// script renders each DashboardState the server sends over /events (server-sent events).
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>c1m-lab connection test</title>
<link rel="stylesheet" href="/uPlot.min.css">
<style>
  :root { --fg: #1d2330; --muted: #69707d; --line: #e3e6ea; --bg: #f6f7f9; --ok: #2e7d32; --warn: #b26a00; --bad: #c62828; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 12px; padding: 14px 20px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 17px; margin: 0; }
  .badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #e8eefc; color: #2746a8; text-transform: uppercase; letter-spacing: .04em; }
  .muted { color: var(--muted); }
  main { padding: 16px 20px; display: grid; gap: 14px; }
  #verdict { padding: 12px 16px; border-radius: 8px; color: #fff; font-size: 15px; }
  #verdict[hidden] { display: none; }
  #verdict.pass { background: var(--ok); } #verdict.plateau-as-expected { background: var(--warn); } #verdict.fail { background: var(--bad); }
  #verdict-label { font-weight: 700; text-transform: uppercase; margin-right: 8px; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px; }
  .tile { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
  .tile .k { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
  .tile .v { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
  .tile .s { font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
  @media (max-width: 900px) { .charts { grid-template-columns: 1fr; } }
  .panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
  .panel h2 { font-size: 13px; margin: 0 0 6px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
  .row { display: grid; grid-template-columns: 260px 1fr; gap: 10px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  td { padding: 3px 4px; border-bottom: 1px solid var(--line); } td:last-child { text-align: right; }
  #perip { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 4px 12px; font-variant-numeric: tabular-nums; }
  #perip div { display: flex; justify-content: space-between; border-bottom: 1px solid var(--line); padding: 2px 0; }
  #perip div.lag .n { color: var(--bad); font-weight: 650; }
  #hosts-panel[hidden] { display: none; }
  #hosts th { text-align: right; font-size: 12px; color: var(--muted); font-weight: 600; padding: 3px 4px; border-bottom: 1px solid var(--line); }
  #hosts th:first-child, #hosts td:first-child { text-align: left; } #hosts td { text-align: right; }
  #hosts tr.down td { color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1>c1m-lab · <span id="stack"></span> connection test</h1>
  <span class="badge" id="phase">connecting</span>
  <span class="muted" id="elapsed"></span>
  <span class="muted" id="status"></span>
</header>
<main>
  <section id="verdict" hidden><span id="verdict-label"></span><span id="diagnosis"></span></section>
  <section class="tiles">
    <div class="tile"><div class="k">connections</div><div class="v" id="total">–</div><div class="s">of target <span id="target">–</span> (<span id="pct">–</span>)</div></div>
    <div class="tile"><div class="k">rate</div><div class="v" id="rate">–</div><div class="s">connections per second</div></div>
    <div class="tile"><div class="k">plan predicted</div><div class="v" id="predicted">–</div><div class="s">binding limit <span id="binding">–</span></div></div>
    <div class="tile"><div class="k">per server IP</div><div class="v" id="ipspread">–</div><div class="s" id="ipdetail">–</div></div>
    <div class="tile"><div class="k">clients</div><div class="v" id="clients">–</div><div class="s" id="clientdetail">–</div></div>
    <div class="tile"><div class="k">conntrack</div><div class="v" id="conntrack">–</div><div class="s" id="ctdetail">–</div></div>
    <div class="tile"><div class="k">round trip p99 (hold)</div><div class="v" id="rtt">–</div><div class="s" id="rttdetail">no pings answered yet</div></div>
    <div class="tile"><div class="k">busiest client CPU</div><div class="v" id="gencpu">–</div><div class="s" id="gencpudetail">of its CPU share; not read yet</div></div>
  </section>
  <section class="charts">
    <div class="panel"><h2>Total</h2><div id="chart-total"></div></div>
    <div class="panel"><h2>Per server IP</h2><div id="chart-ip"></div></div>
  </section>
  <section class="panel" id="hosts-panel" hidden><h2>Client hosts</h2><table id="hosts"></table></section>
  <section class="row">
    <div class="panel"><h2>Failures by class</h2><table id="failures"></table></div>
    <div class="panel"><h2>Server IPs</h2><div id="perip"></div></div>
  </section>
</main>
<script src="/uPlot.iife.min.js"></script>
<script>
"use strict";
const fmt = (n) => Math.round(n).toLocaleString("en-US");
const $ = (id) => document.getElementById(id);
const PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b", "#9d755d", "#ff9da6", "#bab0ac"];
let charts = { total: null, ip: null, ips: "" };

function size(el) { return { width: Math.max(300, el.clientWidth), height: 260 }; }
// Both axes from 0: a ramp read against its start, not against its first poll.
const SCALES = {
  x: { time: false, range: (u, min, max) => [0, Math.max(max, 1)] },
  y: { range: (u, min, max) => [0, Math.max(max, 1) * 1.05] },
};

function ensureCharts(s) {
  const ips = Object.keys(s.perIp);
  const key = ips.join(",");
  if (!charts.total) {
    const el = $("chart-total");
    charts.total = new uPlot({
      ...size(el),
      scales: SCALES,
      legend: { live: false },
      axes: [{ label: "seconds" }, { size: 70, values: (u, v) => v.map(fmt) }],
      series: [
        {},
        { label: "total", stroke: "#1d2330", width: 2 },
        { label: "predicted", stroke: "#d62728", dash: [6, 4], width: 1.5, points: { show: false } },
        { label: "target", stroke: "#7f7f7f", dash: [2, 3], width: 1.5, points: { show: false } },
      ],
    }, [[], [], [], []], el);
  }
  if (charts.ips !== key) {
    if (charts.ip) charts.ip.destroy();
    const el = $("chart-ip");
    charts.ip = new uPlot({
      ...size(el),
      scales: SCALES,
      legend: { show: ips.length <= 8, live: false },
      axes: [{ label: "seconds" }, { size: 70, values: (u, v) => v.map(fmt) }],
      series: [{}, ...ips.map((ip, i) => ({ label: ip, stroke: PALETTE[i % PALETTE.length], width: ips.length > 8 ? 1 : 1.5 }))],
    }, [[], ...ips.map(() => [])], el);
    charts.ips = key;
  }
}

function render(s) {
  $("stack").textContent = s.stack;
  $("phase").textContent = s.phase === "done" ? "finished" : s.phase;
  $("target").textContent = fmt(s.target);
  $("predicted").textContent = fmt(s.predicted);
  $("binding").textContent = s.bindingLimit;
  const l = s.latest;
  const total = s.verdict ? s.verdict.total : l && l.total !== null ? l.total : s.total.at(-1);
  if (total !== undefined && total !== null) {
    $("total").textContent = fmt(total);
    $("pct").textContent = s.target > 0 ? ((total / s.target) * 100).toFixed(1) + "%" : "–";
  }
  if (l) {
    $("elapsed").textContent = l.t.toFixed(1) + " s";
    $("rate").textContent = l.rate === null ? "–" : (l.rate >= 0 ? "+" : "") + fmt(l.rate) + "/s";
    $("status").textContent = l.serverError ? "server unreachable: " + l.serverError : "";
    if (l.clients) {
      $("clients").textContent = l.clients.running + "/" + l.clients.count;
      $("clientdetail").textContent = "running · " + fmt(l.clients.established) + " established";
    } else {
      $("clients").textContent = "–";
      $("clientdetail").textContent = "client view not observed";
    }
    if (l.conntrack) {
      $("conntrack").textContent = fmt(l.conntrack.count);
      const fill = l.conntrack.max > 0 ? ((l.conntrack.count / l.conntrack.max) * 100).toFixed(1) + "%" : "–";
      $("ctdetail").textContent = "of " + fmt(l.conntrack.max) + " (" + fill + ") · insert_failed +" + fmt(l.conntrack.insertFailed) + " · drop +" + fmt(l.conntrack.drop);
    } else {
      $("conntrack").textContent = "–";
      $("ctdetail").textContent = "not read";
    }
    const rows = l.failures ? Object.entries(l.failures) : [];
    $("failures").innerHTML = rows.length === 0 ? "<tr><td class=muted>no client view</td><td></td></tr>" : "";
    for (const [k, n] of rows) {
      const tr = document.createElement("tr");
      tr.dataset.class = k;
      tr.innerHTML = "<td></td><td class=n></td>";
      tr.children[0].textContent = k;
      tr.children[1].textContent = fmt(n);
      $("failures").appendChild(tr);
    }
  }
  if (l && l.hosts) renderHosts(l.hosts, s.verdict && s.verdict.perHost);
  // Per server IP: the latest count of each, their spread, the laggards marked.
  const latest = s.verdict ? s.verdict.perServerIp : Object.fromEntries(Object.entries(s.perIp).map(([ip, v]) => [ip, v.at(-1) ?? 0]));
  const sp = s.spread;
  if (sp) {
    $("ipspread").textContent = sp.min === sp.max ? fmt(sp.min) : fmt(sp.min) + "–" + fmt(sp.max);
    $("ipdetail").textContent = sp.count + " IPs · median " + fmt(sp.median) + (sp.lagging.length ? " · lagging " + sp.lagging.map((x) => x[0]).join(", ") : "");
    const lagging = new Set(sp.lagging.map((x) => x[0]));
    const box = $("perip");
    box.textContent = "";
    for (const [ip, n] of Object.entries(latest)) {
      const d = document.createElement("div");
      d.dataset.ip = ip;
      if (lagging.has(ip)) d.className = "lag";
      d.innerHTML = "<span class=ip></span><span class=n></span>";
      d.children[0].textContent = ip;
      d.children[1].textContent = fmt(n);
      box.appendChild(d);
    }
  }
  renderHold(s.hold);
  ensureCharts(s);
  charts.total.setData([s.t, s.total, s.t.map(() => s.predicted), s.t.map(() => s.target)]);
  charts.ip.setData([s.t, ...Object.keys(s.perIp).map((ip) => s.perIp[ip])]);
  if (s.verdict) {
    const v = $("verdict");
    v.hidden = false;
    v.className = s.verdict.verdict;
    $("verdict-label").textContent = s.verdict.verdict;
    $("diagnosis").textContent = s.verdict.diagnosis;
    $("status").textContent = "this page closes " + s.lingerSeconds + " s after the verdict";
  }
}

const ms = (x) => (x >= 100 ? fmt(x) : x >= 10 ? x.toFixed(1) : x.toFixed(2)) + " ms";
function renderHold(h) {
  const c = h && h.cpu;
  if (c) {
    const top = c.busiest[0];
    $("gencpu").textContent = top ? (top.share * 100).toFixed(0) + "%" : "–";
    $("gencpu").style.color = c.limited > 0 ? "var(--bad)" : "";
    $("gencpudetail").textContent = (top ? top.name + " · " : "") + (c.limited > 0 ? c.limited + " above 80%: the generator limits the result" : "all below 80%") + (c.serverCpus === null ? "" : " · server " + c.serverCpus.toFixed(2) + " CPUs");
  }
  const r = h && h.rtt;
  if (!r || r.p99 === undefined) return;
  $("rtt").textContent = ms(r.p99);
  $("rttdetail").textContent = "p50 " + ms(r.p50) + " · p99.9 " + ms(r.p999) + " · max " + ms(r.max) + " · " + fmt(r.count) + " round trips" + (r.unanswered > 0 ? " · " + fmt(r.unanswered) + " unanswered" : "");
}

// One row per client host: the server's count from its source IPs, its containers, its conntrack.
function renderHosts(hosts, final) {
  $("hosts-panel").hidden = false;
  const t = $("hosts");
  t.innerHTML = "<tr><th>host</th><th>server holds</th><th>clients running</th><th>established (clients)</th><th>conntrack</th><th>state</th></tr>";
  for (const h of hosts) {
    const tr = document.createElement("tr");
    tr.dataset.host = h.name;
    if (h.error) tr.className = "down";
    const held = final && h.name in final ? final[h.name] : h.server;
    const cells = [
      h.name,
      held === null || held === undefined ? "–" : fmt(held),
      h.clients ? h.clients.running + "/" + h.clients.count : "–",
      h.clients ? fmt(h.clients.established) : "–",
      h.conntrack ? fmt(h.conntrack.count) + " / " + fmt(h.conntrack.max) : "–",
      h.error ? "unreachable: " + h.error.replace(/^client host [^:]+: /, "") : "ok",
    ];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.appendChild(td);
    }
    t.appendChild(tr);
  }
}

let done = false;
const es = new EventSource("/events");
es.onmessage = (e) => {
  const s = JSON.parse(e.data);
  render(s);
  if (s.verdict) { done = true; es.close(); }
};
es.onerror = () => { if (done) es.close(); else $("status").textContent = "connection lost, retrying…"; };
addEventListener("resize", () => {
  if (charts.total) charts.total.setSize(size($("chart-total")));
  if (charts.ip) charts.ip.setSize(size($("chart-ip")));
});
</script>
</body>
</html>
`;
