// Rewind console: one page, views chosen by the URL fragment (#/groups/x),
// data from /api/v1. Plain JavaScript, no build step, no network beyond
// this broker.
"use strict";

// ---------- small helpers ----------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "html") el.innerHTML = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

// fill replaces el's children; arrays are flattened and empty values skipped.
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
}

const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const kid of kids.flat()) if (kid) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

async function api(path, opts) {
  const res = await fetch("/api/v1" + path, opts);
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((body && body.error) || res.status + " " + res.statusText);
    err.status = res.status;
    err.body = body;
    throw err;
  }
  return body;
}

const enc = encodeURIComponent;
const fmtInt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
function fmtBytes(n) {
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + " " + u[i];
}
function fmtDur(sec) {
  if (sec === null || sec === undefined) return "–";
  if (sec < 1) return sec <= 0 ? "0s" : Math.round(sec * 1000) + "ms";
  if (sec < 60) return Math.round(sec) + "s";
  const m = Math.floor(sec / 60);
  if (m < 60) return m + "m" + String(Math.round(sec % 60)).padStart(2, "0") + "s";
  const hr = Math.floor(m / 60);
  if (hr < 48) return hr + "h" + String(m % 60).padStart(2, "0") + "m";
  return Math.floor(hr / 24) + "d" + (hr % 24) + "h";
}
// fmtTime writes a local time as 2026-01-02 09:00:00 (with .mmm if ms).
function fmtTime(t, ms) {
  const d = new Date(t);
  const p = (n, w) => String(n).padStart(w || 2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}` + (ms ? "." + p(d.getMilliseconds(), 3) : "");
}
function ago(t) { return fmtDur((Date.now() - new Date(t).getTime()) / 1000) + " ago"; }

const statusHelp = {
  OK: "Keeps up: the lag was zero at some commit of the window, or decreases.",
  WARN: "Moves, but its lag never decreased over the window: it falls behind.",
  ERR: "Some partition is STOP, STALL or REWIND.",
  STOP: "Stopped committing while records wait.",
  STALL: "Commits the same offset while records wait.",
  REWIND: "Its committed offset went backwards in the window.",
  NOTFOUND: "No commits recorded for it yet.",
  NEW: "One commit so far: too short a window to judge yet.",
};
function badge(status, title) {
  return h("span", { class: "badge " + status, title: title || statusHelp[status] || "", "data-status": status }, status);
}
function stateBadge(state) { return h("span", { class: "badge state " + state }, state || "–"); }
function banner(kind, ...kids) { return h("div", { class: "banner " + kind, role: kind === "err" ? "alert" : null }, ...kids); }
function spinner() { return h("div", { class: "spin" }, "Loading…"); }

function table(cols, rows, opts) {
  opts = opts || {};
  const cls = (c) => [c.num ? "num" : "", c.nowrap ? "nowrap" : ""].join(" ").trim() || null;
  const head = h("tr", {}, cols.map((c) => h("th", { class: cls(c) }, c.label)));
  const body = rows.length
    ? rows.map((r) => h("tr", { class: opts.onRow ? "clickable" : null, onclick: opts.onRow ? () => opts.onRow(r) : null, "data-key": opts.key ? opts.key(r) : null },
        cols.map((c) => h("td", { class: cls(c) }, c.cell(r)))))
    : [h("tr", {}, h("td", { class: "empty", colspan: cols.length }, opts.empty || "Nothing here."))];
  return h("table", { id: opts.id || null }, h("thead", {}, head), h("tbody", {}, body));
}

// crumbs is the trail above every page: [label, href] pairs, then the
// page itself as a plain label.
function crumbs(...items) {
  const out = [];
  items.forEach((it, i) => {
    if (i) out.push(h("span", { class: "sep", "aria-hidden": "true" }, " / "));
    out.push(Array.isArray(it) ? h("a", { href: it[1] }, it[0]) : h("span", { "aria-current": "page" }, it));
  });
  return h("nav", { class: "crumbs", id: "crumbs", "aria-label": "Breadcrumbs" }, out);
}
const topicHref = (t, p) => "#/topics/" + enc(t) + (p === undefined ? "" : "/" + p);
const groupHref = (g, tab) => "#/groups/" + enc(g) + (tab ? "/" + tab : "");

// ---------- routing and refresh ----------

const app = document.getElementById("app");
let refreshTimer = null;
// onLeave registers what a view must stop when another replaces it (a
// live tail's EventSource): route runs them first.
let leaving = [];
function onLeave(fn) { leaving.push(fn); }

// routeSeq counts the pages opened: an answer that arrives after another
// page was opened (a slow API call, a refresh in flight) must neither
// replace that page nor install its own refresh on it. A view takes
// current() when it starts and checks it after each wait.
let routeSeq = 0;
function current() { const seq = routeSeq; return () => seq === routeSeq; }

function setRefresh(fn, ms) {
  clearInterval(refreshTimer);
  refreshTimer = fn ? setInterval(() => { if (!document.hidden && !document.querySelector(".modal-back")) fn(); }, ms || 5000) : null;
}

function route() {
  routeSeq++;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  setRefresh(null);
  const stops = leaving;
  leaving = [];
  stops.forEach((fn) => { try { fn(); } catch (_) { /* a view's own cleanup */ } });
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === (parts[0] || "overview")));
  fill(app, spinner());
  const view = parts[0] || "";
  if (view === "topics" && parts[1]) return topicView(parts[1], parts[2]);
  if (view === "topics") return topicsView();
  if (view === "groups" && parts[1]) return groupView(parts[1], parts[2] || "lag", parts.slice(3).join("/"));
  if (view === "groups") return groupsView();
  if (view === "transactions") return transactionsView();
  if (view === "clients") return clientsView();
  if (view === "" || view === "overview") return overviewView();
  return unknownView(location.hash);
}

// unknownView: a link to a page the console does not have still gets the
// trail and the way back.
function unknownView(hash) {
  document.querySelectorAll("#nav a").forEach((a) => a.classList.remove("active"));
  fill(app, crumbs(["Overview", "#/"], "Unknown page"),
    h("div", { class: "pagehead" }, h("h1", {}, "No such page")),
    banner("warn", "The console has no page ", h("code", {}, hash), ". Go to ", h("a", { href: "#/topics" }, "Topics"), ", ",
      h("a", { href: "#/groups" }, "Consumer groups"), " or ", h("a", { href: "#/transactions" }, "Transactions"), "."));
}
window.addEventListener("hashchange", route);

async function brokerInfo() {
  const el = document.getElementById("broker-info");
  try {
    const o = await api("/overview");
    fill(el, 
      h("span", { class: "dot " + (o.ready ? "ok" : "bad"), title: o.ready ? "Ready" : "Not ready: " + o.not_ready }),
      h("span", {}, "Kafka ", h("code", {}, o.advertised)),
      h("span", {}, "up " + fmtDur(o.uptime_seconds)),
      h("span", {}, /^\d/.test(o.version) ? "v" + o.version : o.version),
      h("a", { href: "/metrics", target: "_blank" }, "metrics"));
  } catch (e) {
    fill(el, h("span", { class: "dot bad" }), "broker unreachable: " + e.message);
  }
}

// ---------- overview ----------

async function overviewView() {
  const live = current();
  const render = async () => {
    const [o, groups] = await Promise.all([api("/overview"), api("/groups")]);
    if (!live()) return;
    const attention = groups.filter((g) => g.status === "WARN" || g.status === "ERR" || g.lag > 0).sort((a, b) => b.lag - a.lag);
    fill(app, 
      crumbs("Overview"),
      h("div", { class: "pagehead" }, h("h1", {}, "Overview")),
      h("div", { class: "cards" },
        card("Topics", fmtInt(o.topics)), card("Partitions", fmtInt(o.partitions)), card("Records", fmtInt(o.records)),
        card("On disk", fmtBytes(o.size_bytes)), card("Consumer groups", fmtInt(o.groups)), card("Total lag", fmtInt(o.total_lag))),
      h("div", { class: "panel flush" },
        h("h2", {}, "Groups behind or not OK"),
        table([
          { label: "Group", cell: (g) => h("a", { href: "#/groups/" + enc(g.group) }, g.group) },
          { label: "Status", cell: (g) => badge(g.status) },
          { label: "State", cell: (g) => stateBadge(g.state) },
          { label: "Members", num: true, cell: (g) => g.members },
          { label: "Topics", cell: (g) => g.topics.map((t) => h("span", { class: "chip" }, t)) },
          { label: "Lag", num: true, cell: (g) => fmtInt(g.lag) },
        ], attention, { onRow: (g) => (location.hash = "#/groups/" + enc(g.group)), empty: "Every group is caught up." })),
      h("p", { class: "muted" }, "Statuses follow Burrow: judged over each partition's last 10 commits, not by a threshold. ",
        "Prometheus metrics (kafka_exporter's names) at ", h("a", { href: "/metrics" }, "/metrics"), "."));
  };
  await guarded(render);
  if (live()) setRefresh(() => guarded(render), 5000);
}
function card(label, value) { return h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value)); }

async function guarded(fn) {
  const live = current();
  try { await fn(); } catch (e) { if (live()) fill(app, banner("err", e.message)); }
}

// ---------- transactions ----------

// transactionsView lists every transaction open on a partition: where it
// starts, how far it holds the partition's last stable offset (where
// read_committed consumers stop) below the high watermark, and, where the
// broker knows them, its transactional id and the group offsets it holds
// until it ends.
async function transactionsView() {
  const live = current();
  const render = async () => {
    const v = await api("/transactions");
    if (!live()) return;
    const oldest = new Set();
    v.open.forEach((t) => { if (t.start_offset === t.last_stable) oldest.add(t.topic + "/" + t.partition + "/" + t.producer_id); });
    fill(app,
      crumbs(["Overview", "#/"], "Transactions"),
      h("div", { class: "pagehead" }, h("h1", {}, "Open transactions"), h("span", { class: "sub" }, v.open.length + " open")),
      h("div", { class: "panel flush" }, table([
        { label: "Partition", nowrap: true, cell: (t) => t.topic
          ? h("a", { href: "#/topics/" + enc(t.topic) + "/" + t.partition }, t.topic + "/" + t.partition)
          : h("span", { class: "muted", title: "The transaction committed group offsets but wrote no record yet" }, "offsets only") },
        { label: "Producer", nowrap: true, cell: (t) => "id " + t.producer_id + " · epoch " + t.producer_epoch },
        { label: "Transactional id", cell: (t) => t.transactional_id === undefined
          ? h("span", { class: "muted" }, "–")
          : t.transactional_id
            ? [h("code", {}, t.transactional_id), " ", stateBadge(t.state)]
            : h("span", { class: "badge hanging", title: "No transactional id has this producer id: no coordinator will end it. Abort it with rewind transactions abort." }, "none: hanging") },
        { label: "Starts at", num: true, cell: (t) => (t.topic ? fmtInt(t.start_offset) : "–") },
        { label: "LSO", num: true, cell: (t) => (t.topic ? fmtInt(t.last_stable) : "–") },
        { label: "High watermark", num: true, cell: (t) => (t.topic ? fmtInt(t.high_watermark) : "–") },
        { label: "Holds back", num: true, cell: (t) => !t.topic ? "–" : oldest.has(t.topic + "/" + t.partition + "/" + t.producer_id)
          ? h("strong", {}, fmtInt(t.high_watermark - t.last_stable) + " offset(s)") : h("span", { class: "muted" }, "behind an older one") },
        { label: "Last write", nowrap: true, cell: (t) => (t.topic ? ago(t.last_write) : "–") },
        { label: "Group offsets it holds", cell: (t) => (t.group_offsets || []).length
          ? t.group_offsets.map((o) => h("a", { class: "chip", href: "#/groups/" + enc(o.group), onclick: (e) => e.stopPropagation() }, o.group + " · " + o.topic + "/" + o.partition + " → " + fmtInt(o.offset)))
          : h("span", { class: "muted" }, "none") },
      ], v.open, { id: "txn-table", key: (t) => t.topic + "/" + t.partition + "/" + t.producer_id, empty: "No transaction is open on any partition." })),
      h("p", { class: "muted" }, "read_committed consumers (librdkafka's default, Kafka Streams, exactly-once applications) read a partition only up to its last stable offset (LSO), the start of its oldest open transaction: its lag cannot reach 0 until that transaction ends. ",
        "A transaction its coordinator no longer holds never ends by itself: find it with ", h("code", {}, "rewind transactions find-hanging --topic T"), " and abort it with ", h("code", {}, "rewind transactions abort"), "."));
  };
  await guarded(render);
  if (live()) setRefresh(() => guarded(render), 5000);
}

// ---------- groups ----------

let groupFilter = "";
async function groupsView() {
  const body = h("div", {});
  const filter = h("input", { type: "search", id: "group-filter", placeholder: "Filter groups…", value: groupFilter, style: "width:240px",
    oninput: (e) => { groupFilter = e.target.value; render(); } });
  let groups = [];
  const order = { ERR: 0, WARN: 1, OK: 3, NEW: 3, NOTFOUND: 4 };
  const render = () => {
    const f = groupFilter.toLowerCase();
    const rows = groups.filter((g) => g.group.toLowerCase().includes(f))
      .sort((a, b) => (order[a.status] - order[b.status]) || (b.lag - a.lag) || a.group.localeCompare(b.group));
    fill(body, table([
      { label: "Group", cell: (g) => h("a", { href: "#/groups/" + enc(g.group) }, g.group) },
      { label: "Status", cell: (g) => badge(g.status) },
      { label: "State", cell: (g) => stateBadge(g.state) },
      { label: "Members", num: true, cell: (g) => g.members },
      { label: "Type", cell: (g) => g.type === "consumer" ? h("span", { class: "chip", title: "Kafka 4's consumer protocol (KIP-848): the broker assigns" }, `consumer · epoch ${g.epoch}`) : h("span", { class: "chip" }, "classic") },
      { label: "Protocol", cell: (g) => g.protocol || h("span", { class: "muted" }, "–") },
      { label: "Topics", cell: (g) => g.topics.map((t) => h("span", { class: "chip" }, t)) },
      { label: "Lag", num: true, cell: (g) => h("strong", {}, fmtInt(g.lag)) },
    ], rows, { id: "groups-table", key: (g) => g.group, onRow: (g) => (location.hash = "#/groups/" + enc(g.group)), empty: groups.length ? "No group matches." : "No consumer groups yet." }));
  };
  const load = async () => { groups = await api("/groups"); render(); };
  fill(app, 
    crumbs(["Overview", "#/"], "Consumer groups"),
    h("div", { class: "pagehead" }, h("h1", {}, "Consumer groups"), h("span", { class: "spacer" }), filter),
    h("div", { class: "panel flush" }, body));
  const live = current();
  await guarded(load);
  if (live()) setRefresh(() => load().catch(() => {}), 5000);
}

const groupTabs = [["lag", "Lag"], ["members", "Members"], ["explain", "Explain"], ["reset", "Reset offsets"], ["history", "Commit history"], ["rebalances", "Rebalances"]];

async function groupView(name, tab, arg) {
  const live = current();
  let g;
  try { g = await api("/groups/" + enc(name)); } catch (e) {
    if (!live()) return;
    fill(app, crumbs(["Consumer groups", "#/groups"], name), banner("err", e.message));
    return;
  }
  if (!live()) return;
  const head = h("div", {});
  const tabLabel = (groupTabs.find(([id]) => id === tab) || [tab, tab])[1];
  // The trail: group, tab, and the member or topic the tab shows.
  const trail = () => {
    const items = [["Consumer groups", "#/groups"], [name, groupHref(name)]];
    if (!arg) return crumbs(...items, tabLabel);
    items.push([tabLabel, groupHref(name, tab)]);
    if (tab === "members") {
      const m = g.members.find((x) => x.member_id === arg);
      return crumbs(...items, m ? (m.client_id || "member") + " " + (m.host || "") : arg);
    }
    return crumbs(...items, arg);
  };
  const renderHead = () => fill(head, 
    trail(),
    h("div", { class: "pagehead" }, h("h1", {}, name), badge(g.status.status), stateBadge(g.state),
      h("span", { class: "sub" }, `${g.type === "consumer" ? `consumer group (KIP-848) · group epoch ${g.group_epoch}, target epoch ${g.assignment_epoch} · ` : "classic group · "}${g.members.length} member(s) · lag ${fmtInt(g.lag)} · ${g.protocol ? "assignor " + g.protocol : "no protocol"}`)),
    h("div", { class: "subtabs", role: "tablist" }, groupTabs.map(([id, label]) =>
      h("button", { class: id === tab ? "active" : null, role: "tab", "data-tab": id, onclick: () => (location.hash = "#/groups/" + enc(name) + "/" + id) }, label))));
  renderHead();
  const body = h("div", { id: "group-body" });
  fill(app, head, body);
  const reload = async () => { g = await api("/groups/" + enc(name)); renderHead(); return g; };
  if (tab === "members" && arg) return memberView(body, g, arg);
  if (tab === "members") return membersTab(body, g);
  if (tab === "explain") return explainTab(body, g, arg);
  if (tab === "reset") return resetTab(body, g, reload);
  if (tab === "history") return historyTab(body, g);
  if (tab === "rebalances") return rebalancesTab(body, g);
  return lagTab(body, g, reload);
}

function partitionTable(g) {
  return table([
    { label: "Topic", cell: (p) => h("a", { href: topicHref(p.topic) }, p.topic) },
    { label: "Partition", num: true, cell: (p) => h("a", { href: topicHref(p.topic, p.partition), title: "Browse this partition's records" }, p.partition) },
    { label: "Committed", num: true, cell: (p) => p.committed < 0 ? h("span", { class: "muted" }, "none") : fmtInt(p.committed) },
    { label: "Log end", num: true, cell: (p) => fmtInt(p.log_end) },
    { label: "Lag", num: true, cell: (p) => h("strong", {}, p.lag === null ? "–" : fmtInt(p.lag)) },
    { label: "Lag in time", num: true, cell: (p) => fmtDur(p.lag_seconds) },
    { label: "Consumer", cell: (p) => p.client_id ? h("a", { href: groupHref(g.group, "members") + "/" + enc(p.member_id), title: p.member_id }, p.client_id, h("span", { class: "muted" }, " " + (p.host || ""))) : h("span", { class: "muted" }, "unassigned") },
    { label: "Status", cell: (p) => h("div", {}, badge(p.status), p.status !== "OK" ? h("div", { class: "reason" }, p.status_reason) : null) },
    // When retention deletes records the group has not read, at this pace.
    { label: "Loss in", cell: (p) => p.time_to_loss_seconds === undefined ? h("span", { class: "muted" }, "–")
      : h("div", { "data-loss": p.topic + "/" + p.partition }, h("strong", { style: p.time_to_loss_seconds < 86400 ? "color:var(--err)" : "" }, p.loss.startsWith("retention already") ? "lost" : fmtDur(p.time_to_loss_seconds)),
        h("div", { class: "reason" }, p.loss)) },
  ], g.partitions, { id: "partitions-table", key: (p) => p.topic + "/" + p.partition, empty: "The group has no committed offsets and no assignment." });
}

async function lagTab(body, g, reload) {
  const live = current();
  let range = "1h";
  const chartBox = h("div", { class: "chart", id: "lag-chart" }, spinner());
  const tableBox = h("div", {}, partitionTable(g));
  const ranges = h("div", { class: "controls", style: "margin:0" }, ["15m", "1h", "6h", "24h", "168h"].map((r) =>
    h("button", { class: "btn" + (r === range ? " primary" : ""), "data-range": r, onclick: (e) => {
      range = r; ranges.querySelectorAll("button").forEach((b) => b.classList.toggle("primary", b === e.target)); drawChart();
    } }, r === "168h" ? "7d" : r)));
  fill(body, 
    h("div", { class: "panel" }, h("div", { class: "pagehead", style: "margin-bottom:8px" }, h("h2", { style: "margin:0" }, "Lag over time"), h("span", { class: "spacer" }), ranges), chartBox,
      h("p", { class: "muted", style: "margin:8px 0 0;font-size:12.5px" }, "Computed from the group's commit history and the log's time index: records not yet consumed at each moment.")),
    h("div", { class: "panel flush" }, h("h2", {}, "Partitions"), tableBox));
  let drawn = 0;
  async function drawChart() {
    try {
      let data = await api(`/groups/${enc(g.group)}/lag?range=${range}&points=90`);
      // The frame follows the data: a group younger than the range is
      // drawn from its first commit (at least a minute), not as a flat
      // line at the right end of an empty hour.
      const first = firstDataTime(data), span = new Date(data.to) - new Date(data.from);
      if (first !== null && new Date(data.to) - first < span * 0.75) {
        const fit = Math.max(60, Math.ceil(((new Date(data.to) - first) * 1.1) / 1000));
        data = await api(`/groups/${enc(g.group)}/lag?range=${fit}s&points=90`);
        data.fitted = true;
      }
      lineChart(chartBox, data);
      drawn = Date.now();
    } catch (e) { fill(chartBox, banner("err", e.message)); }
  }
  await drawChart();
  if (!live()) return;
  // The table every 5s; the chart (a lookup per point and partition) every 30s.
  setRefresh(async () => {
    try {
      g = await reload();
      fill(tableBox, partitionTable(g));
      if (Date.now() - drawn > 30000) await drawChart();
    } catch (_) { /* keep the last view */ }
  }, 5000);
}

const palette = ["#0f766e", "#2563eb", "#c2410c", "#7c3aed", "#be123c", "#4d7c0f", "#0369a1", "#a16207", "#9333ea", "#15803d"];
// seriesColor is distinct for every partition: the palette, then hues a
// golden angle apart.
function seriesColor(i) { return i < palette.length ? palette[i] : `hsl(${Math.round((i * 137.508) % 360)}, 70%, 38%)`; }

// firstDataTime is the earliest moment the lag data knows of: the first
// commit in range, or the first point with a value; null when none.
function firstDataTime(data) {
  let first = null;
  for (const c of data.commits || []) { const t = new Date(c.time).getTime(); if (first === null || t < first) first = t; }
  for (const sr of data.series) for (const [t, v] of sr.points) if (v !== null) { if (first === null || t < first) first = t; break; }
  return first;
}

// niceStep is the tick step for values up to v in about n ticks: 1, 2 or
// 5 times a power of ten, whole records at least.
function niceStep(v, n) {
  const raw = Math.max(1, v / n);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// zoneName is the viewer's time zone and UTC offset, which the chart's
// times are in.
function zoneName(t) {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const off = -new Date(t).getTimezoneOffset();
  const sign = off < 0 ? "-" : "+", a = Math.abs(off);
  return `${tz} (UTC${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")})`;
}

function lineChart(box, data) {
  const W = Math.max(480, box.clientWidth || 900), H = 240, L = 56, R = 14, T = 12, B = 28;
  const t0 = new Date(data.from).getTime(), t1 = new Date(data.to).getTime();
  let vmax = 0;
  for (const sr of data.series) for (const [, v] of sr.points) if (v !== null && v > vmax) vmax = v;
  const step = niceStep(vmax, 4);
  const ymax = Math.max(step, Math.ceil(vmax / step) * step);
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / ymax) * (H - T - B);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, height: H, role: "img", "aria-label": "Lag over time", "data-from": t0, "data-to": t1 });
  const grid = s("g", { class: "grid" }), axis = s("g", { class: "axis" });
  for (let v = 0; v <= ymax; v += step) {
    grid.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    axis.append(s("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end", class: "ytick" }, fmtInt(v)));
  }
  for (let i = 0; i <= 5; i++) {
    const t = t0 + ((t1 - t0) * i) / 5;
    const d = new Date(t);
    // Seconds too when a minute is a large part of the frame (a young
    // group's), so that two ticks never read the same.
    const hm = t1 - t0 < 10 * 60e3 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
    const label = t1 - t0 > 36 * 3600e3 ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) + " " + d.toLocaleTimeString(undefined, hm)
      : d.toLocaleTimeString(undefined, hm);
    axis.append(s("text", { x: x(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === 5 ? "end" : "middle" }, label));
  }
  svg.append(grid, axis);
  data.series.forEach((sr, i) => {
    let d = "", pen = false;
    for (const [t, v] of sr.points) {
      if (v === null) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
    }
    if (d) svg.append(s("path", { d, fill: "none", stroke: seriesColor(i), "stroke-width": 2, "stroke-linejoin": "round", "data-series": sr.topic + "/" + sr.partition }));
  });
  const cursor = s("line", { y1: T, y2: H - B, stroke: "#9aa5b1", "stroke-dasharray": "3 3", visibility: "hidden" });
  svg.append(cursor);
  const tip = h("div", { class: "tip" });
  svg.addEventListener("mousemove", (e) => {
    const r = svg.getBoundingClientRect();
    const px = ((e.clientX - r.left) / r.width) * W;
    if (px < L || px > W - R || !data.series.length) return;
    const pts = data.series[0].points;
    let best = 0;
    for (let i = 1; i < pts.length; i++) if (Math.abs(x(pts[i][0]) - px) < Math.abs(x(pts[best][0]) - px)) best = i;
    const tx = x(pts[best][0]);
    cursor.setAttribute("x1", tx); cursor.setAttribute("x2", tx); cursor.setAttribute("visibility", "visible");
    fill(tip, h("div", { style: "opacity:.8" }, fmtTime(pts[best][0]) + " " + zoneName(pts[best][0])),
      data.series.map((sr, i) => h("div", {}, h("span", { style: `color:${seriesColor(i)}` }, "■ "), `${sr.topic}/${sr.partition}: `, sr.points[best][1] === null ? "no commit" : fmtInt(sr.points[best][1]))));
    tip.style.display = "block";
    tip.style.left = (tx / W) * r.width + "px";
    tip.style.top = (e.clientY - r.top) + "px";
  });
  svg.addEventListener("mouseleave", () => { tip.style.display = "none"; cursor.setAttribute("visibility", "hidden"); });
  const legend = h("div", { class: "legend" }, data.series.map((sr, i) => h("span", {}, h("i", { style: `background:${seriesColor(i)}` }), `${sr.topic}/${sr.partition}`)));
  const zone = h("div", { class: "muted", id: "lag-chart-zone", style: "font-size:12px" },
    "Times in " + zoneName(t1) + (data.fitted ? "; from the group's first commit, " + fmtDur((t1 - t0) / 1000) + " ago" : "") + ".");
  fill(box, svg, tip, data.series.length ? legend : h("div", { class: "muted" }, "No committed offsets to chart."), zone);
}

function membersTab(body, g) {
  fill(body, h("div", { class: "panel flush" }, h("h2", {}, "Members"), table([
    { label: "Client id", cell: (m) => h("a", { href: groupHref(g.group, "members") + "/" + enc(m.member_id) }, m.client_id || "(none)") },
    { label: "Host", cell: (m) => m.host || "–" },
    { label: "Member id", cell: (m) => h("code", {}, m.member_id) },
    { label: "Static instance", cell: (m) => m.instance_id || h("span", { class: "muted" }, "–") },
    { label: "Assignment", cell: (m) => assignment(m.assigned) },
  ].concat(g.type === "consumer" ? [
    // A consumer group's member moves to its target one heartbeat at a time.
    { label: "Member epoch", num: true, cell: (m) => m.member_epoch },
    { label: "Target", cell: (m) => assignment(m.target) },
    { label: "Revoking", cell: (m) => m.revoking && m.revoking.length ? assignment(m.revoking) : h("span", { class: "muted" }, "–") },
    { label: "Awaiting", cell: (m) => m.awaiting && m.awaiting.length ? assignment(m.awaiting) : h("span", { class: "muted" }, "–") },
  ] : []), g.members, { id: "members-table", empty: g.state === "Empty" ? "No members: the group is Empty (its consumers are stopped)." : "No members." })));
}
function assignment(tps) {
  if (!tps || !tps.length) return h("span", { class: "muted" }, "nothing assigned");
  const by = {};
  for (const tp of tps) (by[tp.topic] = by[tp.topic] || []).push(tp.partition);
  return Object.entries(by).map(([t, ps]) => h("a", { class: "chip", href: topicHref(t) }, t + ": " + ps.join(", ")));
}

// memberView is one member: who it is, what it is assigned, and links to
// each partition and to where the group would start on its topics.
function memberView(body, g, id) {
  const m = g.members.find((x) => x.member_id === id);
  if (!m) {
    fill(body, banner("warn", "No member ", h("code", {}, id), " in " + g.group + " now: it left, or the group rebalanced. ",
      h("a", { href: groupHref(g.group, "members") }, "All members"), "."));
    return;
  }
  const parts = g.partitions.filter((p) => p.member_id === id);
  const topics = [...new Set((m.assigned || []).map((tp) => tp.topic))];
  fill(body,
    h("div", { class: "panel", id: "member" },
      h("h2", {}, (m.client_id || "member") + " on " + (m.host || "?")),
      h("p", {}, "Member id ", h("code", {}, m.member_id), m.instance_id ? [" · static instance ", h("code", {}, m.instance_id)] : null),
      h("p", {}, "Assigned: ", assignment(m.assigned)),
      topics.length ? h("p", {}, "Where the group starts: ", topics.map((t) => h("a", { class: "chip", href: groupHref(g.group, "explain") + "/" + enc(t) }, "explain " + t))) : null),
    h("div", { class: "panel flush" }, h("h2", {}, "Its partitions"), table([
      { label: "Partition", cell: (p) => h("a", { href: topicHref(p.topic, p.partition) }, p.topic + "/" + p.partition) },
      { label: "Committed", num: true, cell: (p) => p.committed < 0 ? h("span", { class: "muted" }, "none") : fmtInt(p.committed) },
      { label: "Log end", num: true, cell: (p) => fmtInt(p.log_end) },
      { label: "Lag", num: true, cell: (p) => h("strong", {}, p.lag === null ? "–" : fmtInt(p.lag)) },
      { label: "Status", cell: (p) => badge(p.status) },
    ], parts, { id: "member-partitions", empty: "Nothing assigned to this member." })));
}

async function explainTab(body, g, preset) {
  const policy = h("select", { id: "explain-initial" },
    h("option", { value: "newest" }, "newest (Sarama OffsetNewest, Java latest: the defaults)"),
    h("option", { value: "oldest" }, "oldest (OffsetOldest, earliest)"),
    h("option", { value: "none" }, "none (auto.offset.reset=none: fail)"),
    h("option", { value: "by_duration:PT1H" }, "by_duration:PT1H (Kafka 4: the last hour)"),
    h("option", { value: "by_duration:P1D" }, "by_duration:P1D (Kafka 4: the last day)"));
  // A topic picker: where a consumer of the group would start on any
  // topic, the way out for a group with no partitions of its own.
  const topic = h("select", { id: "explain-topic" }, h("option", { value: "" }, "the group's topics"));
  try {
    for (const t of await api("/topics")) if (!t.internal) topic.append(h("option", { value: t.name, selected: t.name === preset }, t.name));
  } catch (e) { /* the picker stays with the group's own topics */ }
  const out = h("div", {});
  const load = async () => {
    fill(out, spinner());
    let ex;
    const q = `initial=${policy.value}` + (topic.value ? `&topic=${enc(topic.value)}` : "");
    try { ex = await api(`/groups/${enc(g.group)}/explain?${q}`); } catch (e) { fill(out, banner("err", e.message)); return; }
    fill(out, 
      ex.notes.map((n) => banner(n.kind === "active-members" || n.kind === "rebalancing" || n.kind === "never-committed" ? "warn" : "info", n.text)),
      h("div", { class: "panel flush" }, table([
        { label: "Partition", cell: (p) => h("a", { href: topicHref(p.topic, p.partition) }, `${p.topic}/${p.partition}`) },
        { label: "Committed", num: true, cell: (p) => p.committed < 0 ? h("span", { class: "muted" }, "none") : fmtInt(p.committed) },
        { label: "Log", num: true, cell: (p) => `${fmtInt(p.log_start)}–${fmtInt(p.log_end)}` },
        { label: "Starts at", num: true, cell: (p) => p.start < 0 ? h("strong", { style: "color:var(--err)" }, "fails") : h("strong", {}, fmtInt(p.start)) },
        { label: "Reads", num: true, cell: (p) => fmtInt(p.reads) },
        { label: "Skips", num: true, cell: (p) => p.skips && p.case !== "committed" ? h("strong", { style: "color:var(--err)", title: "Existing records this consumer will never read" }, fmtInt(p.skips)) : fmtInt(p.skips) },
        { label: "Why", cell: (p) => h("div", {}, h("p", { class: "why next-fetch" }, h("strong", {}, p.next_fetch.charAt(0).toUpperCase() + p.next_fetch.slice(1) + ".")), h("p", { class: "why" }, p.why),
          p.lag_why ? h("p", { class: "why lag-why", "data-case": p.lag_case }, p.lag_why) : null,
          p.replay ? h("div", { class: "replay" }, p.replay) : null) },
      ], ex.partitions, { id: "explain-table", empty: "The group has no partitions of its own: pick a topic above to see where its next consumer would start there." })));
  };
  policy.addEventListener("change", load);
  // The chosen topic goes in the URL (and the trail) without a reload.
  topic.addEventListener("change", () => {
    history.replaceState(null, "", groupHref(g.group, "explain") + (topic.value ? "/" + enc(topic.value) : ""));
    const c = document.getElementById("crumbs");
    if (c) c.replaceWith(topic.value ? crumbs(["Consumer groups", "#/groups"], [g.group, groupHref(g.group)], ["Explain", groupHref(g.group, "explain")], topic.value)
      : crumbs(["Consumer groups", "#/groups"], [g.group, groupHref(g.group)], "Explain"));
    load();
  });
  fill(body, 
    h("div", { class: "controls" }, h("label", {}, "Your consumer's initial offset policy", policy), h("label", {}, "Topic", topic)),
    h("p", { class: "muted", style: "margin-top:0" }, "Where a consumer of this group starts reading on each partition, and why. A committed offset always wins over the initial policy."),
    out);
  await load();
}

const targets = [
  ["to-earliest", "Earliest (log start): replay everything kept", null],
  ["to-latest", "Latest (log end): skip everything not yet read", null],
  ["shift-by", "Shift by N records (negative replays)", "shift"],
  ["to-offset", "A specific offset", "offset"],
  ["to-datetime", "The first record at or after a time", "time"],
  ["by-duration", "The first record of a while ago", "duration"],
  ["to-committed-at", "Where the group itself stood at a time", "time"],
  ["to-current", "Its committed offsets (the log end where none): seeds a group", null],
  ["to-group", "Another group's committed offsets", "group"],
  ["from-file", "A kafka-consumer-groups CSV (topic,partition,offset)", "file"],
];

async function resetTab(body, g, reload) {
  const topics = [...new Set(g.partitions.map((p) => p.topic))];
  const checks = topics.map((t) => h("input", { type: "checkbox", value: t, checked: true, class: "reset-topic" }));
  const target = h("select", { id: "reset-target" }, targets.map(([v, label]) => h("option", { value: v }, label)));
  const arg = h("input", { type: "text", id: "reset-arg", style: "width:220px" });
  const argLabel = h("label", {}, "Value", arg);
  const syncArg = () => {
    const kind = targets.find((x) => x[0] === target.value)[2];
    argLabel.style.display = kind ? "" : "none";
    arg.placeholder = { shift: "-1000", offset: "0", time: "2026-01-02T09:00:00Z or 90m", duration: "90m, 36h, PT3H", group: "other-group", file: "orders,0,42" }[kind] || "";
    arg.style.width = kind === "file" ? "420px" : "220px";
  };
  target.addEventListener("change", () => { syncArg(); fill(out); });
  syncArg();
  const out = h("div", { id: "reset-result" });
  const request = (execute) => {
    const kind = targets.find((x) => x[0] === target.value)[2];
    const req = { target: target.value, topics: checks.filter((c) => c.checked).map((c) => c.value), execute };
    if (kind === "shift") req.shift = Number(arg.value);
    if (kind === "offset") req.offset = Number(arg.value);
    if (kind === "time") req.time = arg.value.trim();
    if (kind === "duration") req.duration = arg.value.trim();
    if (kind === "group") req.group = arg.value.trim();
    // A pasted CSV: lines separated by newlines, or by spaces in one line.
    if (kind === "file") { req.file = arg.value.trim().split(/[\s;]+/).join("\n"); req.topics = []; }
    return req;
  };
  const send = (req) => api(`/groups/${enc(g.group)}/reset`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });

  async function preview(e) {
    if (e) e.preventDefault();
    if (!checks.some((c) => c.checked)) { fill(out, banner("warn", "Select at least one topic.")); return; }
    fill(out, spinner());
    const req = request(false);
    let res;
    try { res = await send(req); } catch (err) { fill(out, banner("err", err.message)); return; }
    const active = res.members.length > 0;
    const moved = res.plan.partitions.filter((r) => r.new !== r.current).length;
    fill(out, 
      banner("info", h("strong", {}, "Dry run: nothing changed yet. "), `${res.plan.partitions.length} partition(s), ${moved} would move.`),
      active ? banner("warn", h("strong", {}, `The group has ${res.members.length} active member(s)`),
        ` (${res.members.map((m) => m.client_id + " " + m.host).join(", ")}). Stop these consumers before executing: they would overwrite the reset with their next commit.`) : null,
      h("div", { class: "panel flush" }, table([
        { label: "Partition", cell: (r) => `${r.topic}/${r.partition}` },
        { label: "Current", num: true, cell: (r) => r.current < 0 ? h("span", { class: "muted" }, "none") : fmtInt(r.current) },
        { label: "", cell: () => h("span", { class: "arrow" }, "→") },
        { label: "New", num: true, cell: (r) => h("strong", {}, fmtInt(r.new)) },
        { label: "Log", num: true, cell: (r) => `${fmtInt(r.log_start)}–${fmtInt(r.log_end)}` },
        { label: "Effect", cell: (r) => h("span", { style: r.skips ? "color:var(--err)" : r.replays ? "color:var(--accent)" : "" }, r.effect) },
      ], res.plan.partitions, { id: "plan-table" })),
      h("div", { class: "controls" },
        h("button", { class: "btn danger", id: "reset-execute", disabled: active, title: active ? "Refused while the group has active members" : "",
          onclick: () => confirmExecute(req, res) }, "Execute reset…"),
        active ? h("span", { class: "muted" }, "Execute is refused while members are active.") : null));
  }

  function confirmExecute(req, res) {
    const root = document.getElementById("modal-root");
    const typed = h("input", { type: "text", id: "confirm-name", placeholder: g.group, style: "width:100%" });
    const ok = h("button", { class: "btn danger", id: "confirm-execute", disabled: true }, "Reset offsets");
    typed.addEventListener("input", () => (ok.disabled = typed.value !== g.group));
    const close = () => fill(root);
    ok.addEventListener("click", async () => {
      ok.disabled = true;
      try {
        const done = await send({ ...req, execute: true });
        close();
        await reload();
        fill(out, banner("ok", h("strong", {}, "Reset applied. "), `${done.plan.partitions.length} partition(s) of ${g.group} now point at the new offsets; its consumers start there.`));
      } catch (err) {
        close();
        const who = err.body && err.body.members ? " Active: " + err.body.members.map((m) => m.client_id + " " + m.host).join(", ") + "." : "";
        fill(out, banner("err", err.message + who));
      }
    });
    fill(root, h("div", { class: "modal-back", onclick: (e) => { if (e.target === e.currentTarget) close(); } },
      h("div", { class: "modal", role: "dialog", "aria-modal": "true" },
        h("h2", {}, "Reset offsets of " + g.group + "?"),
        h("p", {}, `${res.plan.partitions.length} partition(s) will be moved (${req.target}). Its consumers will start from the new offsets.`),
        h("p", { class: "muted" }, "Type the group name to confirm."), typed,
        h("div", { class: "actions" }, h("button", { class: "btn", onclick: close }, "Cancel"), ok))));
    typed.focus();
  }

  fill(body, 
    h("p", { class: "muted", style: "margin-top:0" }, "Move the group's committed offsets, as kafka-consumer-groups --reset-offsets does. Preview first: nothing changes until you execute, and executing is refused while the group has active members."),
    h("form", { class: "panel", onsubmit: preview },
      h("div", { class: "controls" },
        h("label", {}, "Topics", h("div", {}, topics.length ? checks.map((c) => h("label", { class: "check", style: "margin-right:12px" }, c, c.value)) : h("span", { class: "muted" }, "none committed")))),
      h("div", { class: "controls", style: "margin-bottom:0" },
        h("label", {}, "Move to", target), argLabel,
        h("button", { class: "btn primary", type: "submit", id: "reset-preview" }, "Preview (dry run)"))),
    out);
}

async function historyTab(body, g) {
  fill(body, spinner());
  let hist;
  try { hist = await api(`/groups/${enc(g.group)}/history`); } catch (e) { fill(body, banner("err", e.message)); return; }
  hist.sort((a, b) => new Date(b.time) - new Date(a.time));
  let shown = 60;
  const render = () => fill(body,
    h("p", { class: "muted", style: "margin-top:0" }, "Every position the group committed, newest first. Repeated commits of one position are one row. Reset to any of them with “Where the group itself stood at a time”."),
    h("div", { class: "panel flush" }, table([
      { label: "Committed", nowrap: true, cell: (e) => h("span", { title: e.time }, fmtTime(e.time, true)) },
      { label: "Partition", cell: (e) => `${e.topic}/${e.partition}` },
      { label: "Offset", num: true, cell: (e) => fmtInt(e.offset) },
      { label: "Last re-commit", cell: (e) => e.last_commit && e.last_commit !== e.time ? ago(e.last_commit) : h("span", { class: "muted" }, "–") },
      { label: "Until", cell: (e) => e.replaced ? fmtTime(e.replaced) : h("span", { class: "badge OK" }, "current") },
    ], hist.slice(0, shown), { id: "history-table", empty: "No commits kept." })),
    hist.length > shown ? h("div", { class: "controls", style: "margin-top:10px" },
      h("button", { class: "btn", onclick: () => { shown += 200; render(); } }, `Show more (${fmtInt(hist.length - shown)} older)`)) : null);
  render();
}

async function rebalancesTab(body, g) {
  fill(body, spinner());
  let tl;
  try { tl = await api(`/groups/${enc(g.group)}/rebalances`); } catch (e) { fill(body, banner("err", e.message)); return; }
  const who = (client, id) => id ? `${client || "?"} (${id})` : "nobody";
  const rows = tl.rebalances.slice().reverse();
  fill(body,
    h("p", { class: "muted", style: "margin-top:0" }, "Each generation (classic) or group epoch (consumer protocol), newest first, from __consumer_offsets: who joined and left, and which partitions moved from whom to whom. Redo ≤ is the records past the group's commit when a partition moved: the most its new owner processes again. Fetched past commit is the exact count, the records the broker had returned to the previous owner's client past that commit; it is unknown (hover for why) on a Kafka cluster, which shows no fetch positions, or when that client id and host name more than one reader of the partition."),
    tl.truncated ? banner("warn", "The group's __consumer_offsets partition holds more records than the console reads: the timeline covers the oldest ones.") : null,
    rows.length ? rows.map((r) => h("div", { class: "panel flush rebalance" },
      h("h2", {}, `${r.type === "consumer" ? "Group epoch" : "Generation"} ${r.epoch} · ${r.members} member(s) · ${fmtTime(r.time, true)}`),
      r.joined.concat(r.left, r.changed).length ? table([
        { label: "Change", cell: (c) => r.joined.includes(c) ? "joined" : r.left.includes(c) ? "left" : "changed" },
        { label: "Member", cell: (c) => who(c.client_id, c.member_id) },
        { label: "Why", cell: (c) => c.reason },
      ], r.joined.concat(r.left, r.changed), { id: "rebalance-members" }) : null,
      r.moved.length ? table([
        { label: "Partition", cell: (m) => `${m.topic}/${m.partition}` },
        { label: "From", cell: (m) => who(m.from_client, m.from) },
        { label: "To", cell: (m) => who(m.to_client, m.to) },
        { label: "Committed", num: true, cell: (m) => m.committed >= 0 ? fmtInt(m.committed) : "–" },
        { label: "Redo ≤", num: true, cell: (m) => m.redo_at_most >= 0 ? fmtInt(m.redo_at_most) : "–" },
        { label: "Fetched past commit", num: true, cell: (m) => m.redo_fetched >= 0 ? fmtInt(m.redo_fetched)
          : m.from ? h("span", { class: "muted", title: m.redo_fetched_note || "" }, "unknown") : "–" },
      ], r.moved, { id: "rebalance-moves" }) : null)) : h("div", { class: "panel" }, "No generation or group epoch recorded for this group."));
}

// ---------- start ----------

brokerInfo();
setInterval(() => { if (!document.hidden) brokerInfo(); }, 15000);
route();
