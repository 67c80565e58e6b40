// Rewind console: the topics list, topic creation, a topic's page with
// its partitions, configs (edited in place) and produce form. Loaded
// before app.js, whose helpers (h, fill, api, table, crumbs...) these
// functions call when a view renders.
"use strict";

// kafkaError shows a refusal as the broker gives it to a Kafka client:
// the error name and message, and its code.
function kafkaError(err) {
  const b = err.body || {};
  return banner("err", err.message, b.kafka_code ? h("span", { class: "muted" }, ` (Kafka error code ${b.kafka_code})`) : null);
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

let showInternal = false;
async function topicsView() {
  // One form for the view's life: the refresh redraws the table around it
  // without losing what is being typed.
  let form;
  const live = current();
  const render = async () => {
    const topics = await api("/topics" + (showInternal ? "?internal=true" : ""));
    if (!live()) return;
    fill(app,
      crumbs(["Overview", "#/"], "Topics"),
      h("div", { class: "pagehead" }, h("h1", {}, "Topics"), h("span", { class: "sub" }, topics.length + " topic(s)"), h("span", { class: "spacer" }),
        h("label", { class: "check" }, h("input", { type: "checkbox", checked: showInternal, onchange: (e) => { showInternal = e.target.checked; render(); } }), "Show internal topics")),
      h("div", { class: "panel flush" }, table([
        { label: "Topic", cell: (t) => h("a", { href: topicHref(t.name) }, t.name) },
        { label: "Partitions", num: true, cell: (t) => t.partitions.length },
        { label: "Records", num: true, cell: (t) => fmtInt(t.records) },
        { label: "Size", num: true, cell: (t) => fmtBytes(t.size_bytes) },
        { label: "Consumer groups (lag)", cell: (t) => t.consumers.map((c) => h("a", { class: "chip", href: groupHref(c.group), onclick: (e) => e.stopPropagation() }, c.group + " · " + fmtInt(c.lag))) },
      ], topics, { id: "topics-table", key: (t) => t.name, onRow: (t) => (location.hash = topicHref(t.name)), empty: "No topics yet. Produce to one or create it below or with `rewind topic create`." })),
      form);
  };
  form = createTopicForm(render);
  await guarded(render);
  if (live()) setRefresh(() => guarded(render), 10000);
}

// The configs the new-topic form offers as fields; any other goes in the
// free-form lines. Values are checked by the broker, as CreateTopics
// checks them.
const retentionChoices = [["", "broker default"], ["3600000", "1 hour"], ["86400000", "1 day"], ["604800000", "7 days"], ["2592000000", "30 days"], ["-1", "forever (-1)"]];
const cleanupChoices = [["", "broker default"], ["delete", "delete"], ["compact", "compact"], ["compact,delete", "compact,delete"]];
const compressionChoices = [["", "broker default"], ["producer", "producer"], ["none", "none"], ["gzip", "gzip"], ["snappy", "snappy"], ["lz4", "lz4"], ["zstd", "zstd"]];
const choice = (id, opts) => h("select", { id }, opts.map(([v, l]) => h("option", { value: v }, l)));

// parseConfigLines reads "name=value" lines (blank lines and # comments
// skipped); a line without "=" is an error the form shows.
function parseConfigLines(text) {
  const out = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const i = line.indexOf("=");
    if (i <= 0) throw new Error(`config line "${line}": write name=value`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

// createTopicForm creates a topic through the API, which refuses what
// CreateTopics refuses (names, the broker's partition limit, config
// values, a full disk) and says so with the Kafka error.
function createTopicForm(render) {
  const name = h("input", { type: "text", id: "new-topic-name", placeholder: "orders", style: "width:220px" });
  const parts = h("input", { type: "number", id: "new-topic-partitions", min: "1", placeholder: "default", style: "width:100px" });
  const retention = choice("new-topic-retention", retentionChoices);
  const cleanup = choice("new-topic-cleanup", cleanupChoices);
  const compression = choice("new-topic-compression", compressionChoices);
  const more = h("textarea", { id: "new-topic-configs", rows: 2, placeholder: "max.message.bytes=2097152\nsegment.ms=3600000", style: "width:320px" });
  const out = h("div", { id: "new-topic-result", style: "margin-top:10px" });
  function request(validateOnly) {
    const configs = parseConfigLines(more.value);
    if (retention.value) configs["retention.ms"] = retention.value;
    if (cleanup.value) configs["cleanup.policy"] = cleanup.value;
    if (compression.value) configs["compression.type"] = compression.value;
    const req = { name: name.value.trim(), configs, validate_only: validateOnly };
    if (parts.value !== "") req.partitions = Number(parts.value);
    return req;
  }
  async function create(validateOnly) {
    let req;
    try { req = request(validateOnly); } catch (err) { fill(out, banner("err", err.message)); return; }
    try {
      const t = await post("/topics", req);
      if (validateOnly) {
        fill(out, banner("info", h("strong", {}, "Valid: "), `the broker would create ${t.name} with ${t.partitions.length} partition(s). Nothing was created.`));
        return;
      }
      name.value = parts.value = more.value = "";
      retention.value = cleanup.value = compression.value = "";
      await render();
      fill(out, banner("ok", h("strong", {}, "Created "), h("a", { href: topicHref(t.name) }, t.name), ` with ${t.partitions.length} partition(s).`));
    } catch (err) {
      fill(out, kafkaError(err));
    }
  }
  return h("form", { class: "panel", id: "new-topic", onsubmit: (e) => { e.preventDefault(); create(false); } },
    h("h2", {}, "New topic"),
    h("div", { class: "controls", style: "margin-bottom:0" },
      h("label", {}, "Name", name), h("label", {}, "Partitions", parts),
      h("label", {}, "retention.ms", retention), h("label", {}, "cleanup.policy", cleanup), h("label", {}, "compression.type", compression),
      h("label", {}, "Other configs (name=value per line)", more),
      h("button", { class: "btn", type: "button", id: "new-topic-validate", onclick: () => create(true) }, "Validate"),
      h("button", { class: "btn primary", type: "submit", id: "new-topic-create" }, "Create")),
    out);
}

async function topicView(name, partition) {
  const live = current();
  let t;
  try { t = await api("/topics/" + enc(name)); } catch (e) {
    if (!live()) return;
    fill(app, crumbs(["Topics", "#/topics"], name), banner("err", e.message));
    return;
  }
  if (!live()) return;
  const selected = partition === undefined || partition === "" ? undefined : Number(partition);
  const browser = h("div", { class: "panel", id: "browser" });
  const configs = h("div", { class: "panel flush", id: "configs" }, h("h2", {}, "Configs"), spinner());
  const producer = h("div", { class: "panel", id: "producer" });
  const trail = selected === undefined ? crumbs(["Topics", "#/topics"], name)
    : crumbs(["Topics", "#/topics"], [name, topicHref(name)], "Partition " + selected);
  fill(app,
    trail,
    h("div", { class: "pagehead" }, h("h1", {}, name), t.internal ? h("span", { class: "badge" }, "internal") : null,
      h("span", { class: "sub" }, t.partitions.length + " partition(s) · " + fmtInt(t.records) + " records · " + fmtBytes(t.size_bytes))),
    h("div", { class: "row" },
      h("div", { class: "panel flush" }, h("h2", {}, "Partitions"), table([
        { label: "Partition", num: true, cell: (p) => h("a", { href: topicHref(name, p.partition) }, p.partition) },
        { label: "Log start", num: true, cell: (p) => fmtInt(p.log_start) },
        { label: "Log end", num: true, cell: (p) => fmtInt(p.high_watermark) },
        { label: "Records", num: true, cell: (p) => fmtInt(p.high_watermark - p.log_start) },
        { label: "Size", num: true, cell: (p) => fmtBytes(p.size_bytes) },
        { label: "", cell: (p) => p.error ? h("span", { class: "badge ERR", title: p.error }, "storage error")
          : h("a", { href: topicHref(name, p.partition) }, "Browse") },
      ], t.partitions, { id: "topic-partitions", key: (p) => String(p.partition) }),
        t.internal ? null : addPartitionsForm(t)),
      h("div", { class: "panel flush" }, h("h2", {}, "Consumed by"), table([
        { label: "Group", cell: (c) => h("a", { href: groupHref(c.group) }, c.group) },
        { label: "Lag", num: true, cell: (c) => fmtInt(c.lag) },
        { label: "", cell: (c) => h("a", { href: groupHref(c.group, "explain") + "/" + enc(name) }, "Where it starts") },
      ], t.consumers, { empty: "No group has committed offsets on this topic." }))),
    configs,
    t.internal ? null : producer,
    browser);
  configEditor(configs, t);
  if (!t.internal) produceForm(producer, t, selected);
  messageBrowser(browser, t, selected === undefined ? 0 : selected);
  if (selected !== undefined) browser.scrollIntoView({ block: "start" });
}

function addPartitionsForm(t) {
  const count = h("input", { type: "number", id: "add-partitions-count", min: t.partitions.length + 1, value: t.partitions.length + 1, style: "width:90px" });
  const out = h("div", { id: "add-partitions-result" });
  return h("form", { class: "controls", style: "padding:10px 16px 4px;margin:0", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const nt = await post("/topics/" + enc(t.name) + "/partitions", { count: Number(count.value) });
      fill(out, banner("ok", `${t.name} now has ${nt.partitions.length} partition(s).`));
      setTimeout(route, 600);
    } catch (err) { fill(out, kafkaError(err)); }
  } }, h("label", {}, "Total partitions", count), h("button", { class: "btn", type: "submit", id: "add-partitions" }, "Add partitions"), out);
}

// configEditor lists every config of the topic with its value; edited
// values are set, ticked ones go back to the default, all in one
// IncrementalAlterConfigs (all or nothing), refused as Kafka refuses it.
async function configEditor(root, t) {
  let cs;
  try { cs = await api("/topics/" + enc(t.name) + "/configs"); } catch (e) { fill(root, h("h2", {}, "Configs"), banner("err", e.message)); return; }
  const out = h("div", { id: "config-result", style: "padding:0 16px" });
  const inputs = new Map(), resets = new Map();
  const showAll = h("input", { type: "checkbox", id: "config-show-all" });
  const rows = () => cs.filter((c) => showAll.checked || !c.default || ["retention.ms", "retention.bytes", "cleanup.policy", "compression.type", "max.message.bytes", "segment.bytes", "min.insync.replicas"].includes(c.name));
  const body = h("div", {});
  const draw = () => fill(body, table([
    { label: "Name", nowrap: true, cell: (c) => h("code", { title: c.doc || "" }, c.name) },
    { label: "Value", cell: (c) => {
      if (!inputs.has(c.name)) inputs.set(c.name, h("input", { type: "text", value: c.value, "data-config": c.name, style: "width:260px" }));
      return inputs.get(c.name);
    } },
    { label: "Source", cell: (c) => c.default ? h("span", { class: "muted" }, "default") : h("span", { class: "badge state" }, "set on topic") },
    { label: "Back to default", cell: (c) => {
      if (c.default) return null;
      if (!resets.has(c.name)) resets.set(c.name, h("input", { type: "checkbox", "data-reset": c.name }));
      return resets.get(c.name);
    } },
  ], rows(), { id: "config-table", key: (c) => c.name }));
  showAll.addEventListener("change", draw);
  draw();
  const changes = () => {
    const set = {}, del = [];
    for (const c of cs) {
      const r = resets.get(c.name);
      if (r && r.checked) { del.push(c.name); continue; }
      const i = inputs.get(c.name);
      if (i && i.value !== c.value) set[c.name] = i.value;
    }
    return { set, delete: del };
  };
  async function save(validateOnly) {
    const req = changes();
    if (!Object.keys(req.set).length && !req.delete.length) { fill(out, banner("warn", "Nothing changed.")); return; }
    try {
      const next = await post("/topics/" + enc(t.name) + "/configs", { ...req, validate_only: validateOnly });
      const what = Object.keys(req.set).map((k) => `${k}=${req.set[k]}`).concat(req.delete.map((k) => k + " back to default")).join(", ");
      if (validateOnly) { fill(out, banner("info", h("strong", {}, "Valid: "), what + ". Nothing was changed.")); return; }
      cs = next;
      inputs.clear(); resets.clear();
      draw();
      fill(out, banner("ok", h("strong", {}, "Saved: "), what + "."));
    } catch (err) { fill(out, kafkaError(err)); }
  }
  fill(root,
    h("div", { class: "pagehead", style: "padding:14px 16px 0;margin-bottom:8px" }, h("h2", { style: "margin:0" }, "Configs"), h("span", { class: "spacer" }),
      h("label", { class: "check" }, showAll, "Show every config")),
    body,
    h("div", { class: "controls", style: "padding:10px 16px;margin:0" },
      h("button", { class: "btn", id: "config-validate", onclick: () => save(true) }, "Validate"),
      h("button", { class: "btn primary", id: "config-save", onclick: () => save(false) }, "Save changes"),
      h("span", { class: "muted" }, "Checked and applied by the broker as IncrementalAlterConfigs: all or nothing.")),
    out);
}

// produceForm appends one record, through the produce path a Kafka
// client's records take (max.message.bytes, a full disk, internal topics
// refused), answered once durable. Without a partition the broker picks
// one as a Kafka client's default partitioner does for the key.
function produceForm(root, t, selected) {
  const part = h("select", { id: "produce-partition" },
    h("option", { value: "" }, "by key (default partitioner)"),
    t.partitions.map((p) => h("option", { value: p.partition, selected: p.partition === selected }, "partition " + p.partition)));
  const key = h("input", { type: "text", id: "produce-key", placeholder: "no key", style: "width:220px" });
  const value = h("textarea", { id: "produce-value", rows: 3, placeholder: '{"order_id": 1}', style: "width:100%" });
  const tomb = h("input", { type: "checkbox", id: "produce-null" });
  const headers = h("div", { id: "produce-headers" });
  const addHeader = () => headers.append(h("div", { class: "controls", style: "margin-bottom:6px" },
    h("input", { type: "text", class: "produce-header-key", placeholder: "header", style: "width:180px" }),
    h("input", { type: "text", class: "produce-header-value", placeholder: "value", style: "width:260px" }),
    h("button", { class: "btn", type: "button", onclick: (e) => e.target.parentElement.remove() }, "Remove")));
  const out = h("div", { id: "produce-result" });
  tomb.addEventListener("change", () => (value.disabled = tomb.checked));
  async function send(e) {
    e.preventDefault();
    const rec = { key: key.value === "" ? null : key.value, value: tomb.checked ? null : value.value, headers: [] };
    for (const row of headers.children) {
      const k = row.querySelector(".produce-header-key").value, v = row.querySelector(".produce-header-value").value;
      if (k !== "" || v !== "") rec.headers.push({ key: k, value: v });
    }
    const req = { records: [rec] };
    if (part.value !== "") req.partition = Number(part.value);
    try {
      const r = await post("/topics/" + enc(t.name) + "/records", req);
      fill(out, banner("ok", h("strong", {}, "Produced "), "to ", h("a", { href: topicHref(t.name, r.partition) }, `${t.name}/${r.partition}`),
        ` at offset ${fmtInt(r.base_offset)}`, part.value === "" ? (rec.key === null ? " (no key: a partition at random)" : " (the key's partition)") : "", "."));
    } catch (err) { fill(out, kafkaError(err)); }
  }
  fill(root,
    h("h2", {}, "Produce a record"),
    h("form", { onsubmit: send },
      h("div", { class: "controls" }, h("label", {}, "Partition", part), h("label", {}, "Key (empty: no key)", key),
        h("label", { class: "check" }, tomb, "null value (tombstone)")),
      value,
      h("div", { style: "margin-top:8px" }, headers),
      h("div", { class: "controls", style: "margin:8px 0 0" },
        h("button", { class: "btn", type: "button", id: "produce-add-header", onclick: addHeader }, "+ Header"),
        h("button", { class: "btn primary", type: "submit", id: "produce-send" }, "Produce"),
        h("span", { class: "muted" }, "One record, answered once it is durable; refused as the produce path refuses a Kafka client."))),
    out);
}
