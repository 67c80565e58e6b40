// Rewind console: the clients view, what each client reports about
// itself through client telemetry (KIP-714): its own lag per partition,
// its fetch and request latencies, its connection counts. Loaded before
// app.js, whose helpers these functions call when the view renders.
"use strict";

// The series a consumer's operator looks at first, shown as columns.
const clientHighlights = [
  ["Lag (max)", "org.apache.kafka.consumer.fetch.manager.records.lag.max"],
  ["Fetch latency (avg ms)", "org.apache.kafka.consumer.fetch.manager.fetch.latency.avg"],
  ["Records consumed/s", "org.apache.kafka.consumer.fetch.manager.records.consumed.rate"],
  ["Records sent/s", "org.apache.kafka.producer.record.send.rate"],
  ["Request latency (avg ms)", "org.apache.kafka.producer.request.latency.avg"],
];

function clientValue(c, name) {
  const p = (c.series || []).find((s) => s.name === name && !s.attributes);
  return p ? p.value : null;
}

const fmtNum = (v) => (v === null || v === undefined ? "–" : Number.isInteger(v) ? fmtInt(v) : Number(v).toFixed(2));

let openClient = null;
let clientsBootstrap = "";
async function clientsView() {
  const live = current();
  const render = async () => {
    let v;
    try {
      v = await api("/clients");
      if (!clientsBootstrap) clientsBootstrap = (await api("/overview")).advertised;
    } catch (err) {
      if (!live()) return;
      fill(app, crumbs(["Overview", "#/"], "Clients"), h("div", { class: "pagehead" }, h("h1", {}, "Clients")), banner("warn", err.message));
      return;
    }
    if (!live()) return;
    const cs = v.clients;
    const highlights = clientHighlights.filter(([, name]) => cs.some((c) => clientValue(c, name) !== null));
    const detail = cs.find((c) => c.client_instance_id === openClient);
    fill(app,
      crumbs(["Overview", "#/"], "Clients"),
      h("div", { class: "pagehead" }, h("h1", {}, "Clients"), h("span", { class: "sub" }, cs.length + " pushing telemetry")),
      h("div", { class: "panel flush" }, table([
        { label: "Client id", cell: (c) => h("code", {}, c.client_id || "–") },
        { label: "Software", nowrap: true, cell: (c) => (c.client_software_name ? c.client_software_name + " " + c.client_software_version : "–") },
        { label: "From", nowrap: true, cell: (c) => c.client_address || "–" },
        { label: "Last push", nowrap: true, cell: (c) => (c.last_push ? ago(c.last_push) : h("span", { class: "muted" }, "none yet")) },
        ...highlights.map(([label, name]) => ({ label, num: true, cell: (c) => fmtNum(clientValue(c, name)) })),
        { label: "Series", num: true, cell: (c) => fmtInt((c.series || []).length) },
      ], cs, { id: "clients-table", key: (c) => c.client_instance_id, onRow: (c) => { openClient = c.client_instance_id; render(); },
        empty: "No client pushes telemetry yet." })),
      detail ? clientDetail(detail) : null,
      h("p", { class: "muted" }, "Clients push what a subscription asks for (KIP-714; the Java client 3.7+ and librdkafka 2.5+ do by default). Subscribe every client to every metric, every 10 s: ",
        h("code", {}, "kafka-client-metrics.sh --bootstrap-server " + (clientsBootstrap || "HOST:PORT") + " --alter --name all --metrics '*' --interval 10000"),
        ". A client is forgotten when its connection closes, as Kafka forgets it."));
  };
  await guarded(render);
  if (live()) setRefresh(() => guarded(render), 5000);
}

function clientDetail(c) {
  return h("div", { class: "panel" },
    h("h2", {}, "Series of ", h("code", {}, c.client_id), " (instance ", h("code", {}, c.client_instance_id), ")"),
    c.last_error ? banner("warn", "Last push refused: " + c.last_error) : null,
    c.dropped_series ? banner("warn", fmtInt(c.dropped_series) + " series not kept: a client keeps at most 2000") : null,
    table([
      { label: "Metric", cell: (p) => h("code", {}, p.name) },
      { label: "Attributes", cell: (p) => (p.attributes ? Object.entries(p.attributes).map(([k, val]) => h("span", { class: "chip" }, k + "=" + val)) : h("span", { class: "muted" }, "–")) },
      { label: "Kind", cell: (p) => p.kind },
      { label: "Value", num: true, cell: (p) => fmtNum(p.value) },
    ], c.series || [], { id: "client-series", key: (p) => p.name + JSON.stringify(p.attributes || {}), empty: "Nothing pushed yet." }));
}
