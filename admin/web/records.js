// Rewind console: the message browser of a topic's page (by offset, from
// the newest, from a time; filtered by key, value or header; a live
// tail). Loaded before app.js, whose helpers these functions call.
"use strict";

function recordsTable(recs, id) {
  return table([
    { label: "Offset", num: true, cell: (r) => fmtInt(r.offset) },
    { label: "Timestamp", nowrap: true, cell: (r) => h("span", { title: r.timestamp + " (UTC)" }, fmtTime(r.timestamp, true)) },
    { label: "Key", nowrap: true, cell: (r) => valueCell(r.key, r.key_encoding) },
    { label: "Value", cell: (r) => valueCell(r.value, r.value_encoding, r.value_bytes, r.truncated) },
    { label: "Headers", cell: (r) => r.headers.length ? r.headers.map((x) => h("span", { class: "chip mono" }, x.key + "=" + x.value)) : h("span", { class: "muted" }, "–") },
  ], recs, { id, key: (r) => String(r.offset), empty: "No records here." });
}

function messageBrowser(root, t, partition) {
  const st = { partition };
  const part = h("select", { id: "mb-partition", onchange: (e) => { st.partition = Number(e.target.value); stopTail(); load(); } },
    t.partitions.map((p) => h("option", { value: p.partition, selected: p.partition === partition }, "Partition " + p.partition)));
  const mode = h("select", { id: "mb-mode" },
    h("option", { value: "oldest" }, "Oldest first"), h("option", { value: "newest" }, "Newest"),
    h("option", { value: "offset" }, "From offset"), h("option", { value: "time" }, "From time"));
  const offsetIn = h("input", { type: "number", id: "mb-offset", min: 0, placeholder: "offset", style: "width:120px" });
  const timeIn = h("input", { type: "datetime-local", id: "mb-time", step: 1 });
  const limitIn = h("select", { id: "mb-limit" }, [20, 50, 100, 200].map((n) => h("option", { value: n, selected: n === 20 }, n + " records")));
  // The filter: every field given must match; the range ends at an
  // offset or a time (exclusive).
  const keyF = h("input", { type: "search", id: "mb-key", placeholder: "key contains", style: "width:160px" });
  const valueF = h("input", { type: "search", id: "mb-value", placeholder: "value contains", style: "width:200px" });
  const headerF = h("input", { type: "search", id: "mb-header", placeholder: "header name=value", style: "width:180px" });
  const regex = h("input", { type: "checkbox", id: "mb-regex" });
  const endOffset = h("input", { type: "number", id: "mb-end-offset", min: 0, placeholder: "log end", style: "width:110px" });
  const endTime = h("input", { type: "datetime-local", id: "mb-end-time", step: 1 });
  const tailBtn = h("button", { class: "btn", type: "button", id: "mb-tail" }, "▶ Live tail");
  const showArgs = () => { offsetIn.style.display = mode.value === "offset" ? "" : "none"; timeIn.style.display = mode.value === "time" ? "" : "none"; };
  mode.addEventListener("change", showArgs);
  showArgs();
  const status = h("div", { id: "mb-status" });
  const out = h("div", {});
  const go = (e) => { if (e) e.preventDefault(); stopTail(); load(); };
  fill(root,
    h("h2", {}, "Messages"),
    h("form", { class: "controls", onsubmit: go },
      h("label", {}, "Partition", part), h("label", {}, "Start", mode),
      h("label", {}, "\u00a0", h("span", {}, offsetIn, timeIn)), h("label", {}, "Show", limitIn),
      h("button", { class: "btn primary", type: "submit", id: "mb-load" }, "Load"), tailBtn),
    h("form", { class: "controls", id: "mb-filter", onsubmit: go },
      h("label", {}, "Key", keyF), h("label", {}, "Value", valueF), h("label", {}, "Header", headerF),
      h("label", { class: "check", title: "Go regular expressions (RE2) instead of substrings" }, regex, "regex"),
      h("label", {}, "Until offset", endOffset), h("label", {}, "Until time", endTime),
      h("button", { class: "btn", type: "submit", id: "mb-filter-apply" }, "Filter"),
      h("button", { class: "btn", type: "button", id: "mb-filter-clear", onclick: () => { keyF.value = valueF.value = headerF.value = endOffset.value = endTime.value = ""; regex.checked = false; go(); } }, "Clear")),
    status, out);

  const filterParams = (q) => {
    if (keyF.value) q.set("key", keyF.value);
    if (valueF.value) q.set("value", valueF.value);
    if (headerF.value) q.set("header", headerF.value);
    if (regex.checked && (keyF.value || valueF.value || headerF.value)) q.set("match", "regex");
    return q;
  };

  // load reads one page: at: {offset} forwards, {before} backwards from
  // an offset, or the start the form gives.
  async function load(at) {
    at = at || {};
    const q = filterParams(new URLSearchParams({ partition: st.partition, limit: limitIn.value }));
    if (endOffset.value !== "") q.set("end_offset", endOffset.value);
    if (endTime.value) q.set("end_time", new Date(endTime.value).toISOString());
    if (at.offset !== undefined) q.set("offset", at.offset);
    else if (at.before !== undefined) { q.set("from", "newest"); q.set("end_offset", Math.min(at.before, endOffset.value === "" ? Infinity : Number(endOffset.value))); }
    else if (mode.value === "offset") q.set("offset", offsetIn.value || 0);
    else if (mode.value === "time") {
      if (!timeIn.value) { fill(out, banner("warn", "Pick a date and time.")); return; }
      q.set("time", new Date(timeIn.value).toISOString());
    } else q.set("from", mode.value);
    const backward = q.get("from") === "newest";
    fill(status);
    fill(out, spinner());
    let page;
    try { page = await api("/topics/" + enc(t.name) + "/records?" + q); } catch (e) { fill(out, banner("err", e.message)); return; }
    const first = page.records.length ? page.records[0].offset : null, last = page.records.length ? page.records[page.records.length - 1].offset : null;
    const nav = h("div", { class: "controls", style: "margin:10px 0 0" },
      h("button", { class: "btn", id: "mb-older", disabled: page.from <= page.log_start, onclick: () => load({ before: page.from }) }, "← Older"),
      h("button", { class: "btn", id: "mb-newer", disabled: page.next >= page.end, onclick: () => load({ offset: page.next }) }, "Newer →"),
      h("span", { class: "muted" }, page.records.length
        ? `Offsets ${fmtInt(first)}–${fmtInt(last)} of ${fmtInt(page.log_start)}–${fmtInt(page.high_watermark - 1)}`
        : `No records from offset ${fmtInt(page.from)} (log ${fmtInt(page.log_start)}–${fmtInt(page.high_watermark)})`));
    // A filtered page says how much it examined; a scan cut short by its
    // bound says so and goes on from where it stopped.
    const scanned = page.filtered
      ? h("div", { id: "mb-scan", class: "muted", style: "margin-bottom:8px" },
        `${fmtInt(page.records.length)} match(es) in ${fmtInt(page.scanned)} record(s) examined` +
        (backward ? `, offsets ${fmtInt(page.from)}–${fmtInt(page.end - 1)}.` : `, offsets ${fmtInt(page.from)}–${fmtInt(page.next - 1)}.`))
      : null;
    const stopped = page.stopped ? banner("warn", h("strong", {}, "Scan stopped: "), page.stopped + ". ",
      h("button", { class: "btn", id: "mb-continue", onclick: () => load(backward ? { before: page.from } : { offset: page.next }) },
        backward ? `Continue before offset ${fmtInt(page.from)}` : `Continue from offset ${fmtInt(page.next)}`)) : null;
    fill(out, stopped, scanned, recordsTable(page.records, "records-table"), nav);
  }

  // The live tail: server-sent events of the records appended from now,
  // through the filter. It stops when the view changes (onLeave), and
  // pauses while the tab is hidden, resuming where it was.
  let es = null, tailNext = null, received = [], hiddenPause = false;
  function stopTail(why) {
    if (es) { es.close(); es = null; }
    tailBtn.textContent = "▶ Live tail";
    tailBtn.classList.remove("primary");
    if (why) fill(status, banner("info", why));
  }
  function startTail(from) {
    const q = filterParams(new URLSearchParams({ partition: st.partition }));
    if (from !== undefined && from !== null) q.set("offset", from);
    else { received = []; fill(out, h("div", { id: "tail-box" }, recordsTable([], "tail-table"))); }
    es = new EventSource("/api/v1/topics/" + enc(t.name) + "/tail?" + q);
    tailBtn.textContent = "■ Stop tail";
    tailBtn.classList.add("primary");
    const show = (ev) => fill(status, h("div", { id: "tail-status", class: "banner info", "data-state": "live" },
      h("strong", {}, "Live"), ` on ${t.name}/${st.partition}` + (q.has("key") || q.has("value") || q.has("header") ? " (filtered)" : "") +
      `: ${fmtInt(received.length)} record(s) shown, next offset ${fmtInt(ev.next)}` +
      (ev.high_watermark > ev.next ? `, ${fmtInt(ev.high_watermark - ev.next)} behind the log end` : "") + "."));
    es.addEventListener("start", (m) => { const ev = JSON.parse(m.data); tailNext = ev.next; show(ev); });
    es.addEventListener("records", (m) => {
      const ev = JSON.parse(m.data);
      tailNext = ev.next;
      // The newest 500 stay on the page.
      received = received.concat(ev.records).slice(-500);
      const box = document.getElementById("tail-box");
      if (box) fill(box, recordsTable(received.slice().reverse(), "tail-table"));
      show(ev);
    });
    es.addEventListener("end", (m) => { stopTail("Live tail ended: " + JSON.parse(m.data).reason); });
    es.onerror = () => {
      // A refused tail (503, 404) is not retried by EventSource; a
      // dropped connection is, from the last offset.
      if (es && es.readyState === EventSource.CLOSED) stopTail("The live tail could not be opened or was closed by the broker (at most 8 run at once).");
    };
  }
  tailBtn.addEventListener("click", () => (es ? stopTail("Live tail stopped.") : startTail()));
  const onVisibility = () => {
    if (document.hidden && es) { es.close(); es = null; hiddenPause = true; fill(status, banner("info", "Live tail paused while the tab is hidden.")); }
    else if (!document.hidden && hiddenPause) { hiddenPause = false; startTail(tailNext); }
  };
  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("pagehide", () => stopTail());
  onLeave(() => { hiddenPause = false; stopTail(); document.removeEventListener("visibilitychange", onVisibility); });
  load();
}

function valueCell(v, encoding, size, truncated) {
  if (v === null) return h("span", { class: "val null" }, "null");
  let pretty = null;
  if (!encoding) {
    try { const j = JSON.parse(v); if (typeof j === "object" && j !== null) pretty = JSON.stringify(j, null, 2); } catch (_) { /* not JSON */ }
  }
  const el = h("div", { class: "val clip", title: "Click to expand" }, v);
  el.addEventListener("click", () => {
    const clipped = el.classList.toggle("clip");
    el.textContent = !clipped && pretty ? pretty : v;
  });
  return h("div", {}, el,
    encoding ? h("span", { class: "chip" }, encoding) : null,
    truncated ? h("span", { class: "chip" }, "first 16 KiB of " + fmtBytes(size)) : null);
}
