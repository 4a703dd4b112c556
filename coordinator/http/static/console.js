"use strict";
// The keel console: plain JavaScript, no build step. Routes live in the URL
// hash (#/workflows, #/workflow/ID, #/workers, #/queues); data comes from
// /api/... and, for a running workflow, from server-sent events.

const $view = document.getElementById("view");
const state = { features: {}, auth: false, live: null, timers: [] };

// -- helpers -------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "style") Object.assign(el.style, v);
    else if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options) {
  const init = Object.assign({ headers: {} }, options || {});
  if (init.method && init.method !== "GET") init.headers["X-Keel-Console"] = "1";
  const res = await fetch(path, init);
  if (res.status === 401) { location.href = "/login"; throw new Error("log in first"); }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

function toast(text, bad) {
  const el = h("div", { class: "toast" + (bad ? " bad" : ""), role: "status" }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 3500);
}

function confirmModal(title, text, yes) {
  return new Promise((resolve) => {
    const modal = document.getElementById("modal");
    document.getElementById("modal-title").textContent = title;
    document.getElementById("modal-text").textContent = text;
    const ok = document.getElementById("modal-yes"), no = document.getElementById("modal-no");
    ok.textContent = yes;
    const done = (answer) => { modal.hidden = true; ok.onclick = no.onclick = null; resolve(answer); };
    ok.onclick = () => done(true);
    no.onclick = () => done(false);
    modal.hidden = false;
    no.focus();
  });
}

const badge = (status) => h("span", { class: `badge ${status}`, "data-testid": "status" }, status);

function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60000), s = Math.round((ms % 60000) / 1000);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function fmtTime(ms) {
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  return today ? time : `${d.toLocaleDateString()} ${time}`;
}

function payload(p) {
  if (!p) return "—";
  if ("json" in p) return JSON.stringify(p.json, null, 2);
  if ("text" in p) return `${p.text}\n… (${p.bytes} bytes, cut short)`;
  return `${p.encoding}, ${p.bytes} bytes (base64${p.cut ? ", cut short" : ""}):\n${p.base64}`;
}

function short(p) {
  if (!p) return "";
  const text = "json" in p ? JSON.stringify(p.json) : ("text" in p ? p.text : `<${p.encoding}>`);
  return text.length > 60 ? text.slice(0, 57) + "…" : text;
}

function stopLive() {
  if (state.live) { state.live.close(); state.live = null; }
  state.timers.forEach(clearInterval);
  state.timers = [];
}

// -- routing -------------------------------------------------------------------

function route() {
  stopLive();
  const hash = location.hash.slice(1) || "/workflows";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const section = path.split("/")[1];
  document.querySelectorAll("[data-nav]").forEach((a) => {
    a.classList.toggle("active", a.dataset.nav === section || (section === "workflow" && a.dataset.nav === "workflows"));
  });
  $view.replaceChildren();
  if (path.startsWith("/workflow/")) return showWorkflow(decodeURIComponent(path.slice("/workflow/".length)));
  if (path === "/workers") return showWorkers();
  if (path === "/queues") return showQueues();
  return showWorkflows(params);
}

// -- workflows -----------------------------------------------------------------

const STATUSES = ["", "PENDING", "SUCCESS", "ERROR", "CANCELLED"];

async function showWorkflows(params) {
  const status = params.get("status") || "", name = params.get("name") || "";
  const after = params.get("after") || "", back = params.get("back") || "";
  const go = (changes) => {
    const next = new URLSearchParams({ status, name, after, back, ...changes });
    for (const [k, v] of [...next]) if (!v) next.delete(k);
    location.hash = "/workflows?" + next.toString();
  };
  const idInput = h("input", { type: "search", placeholder: "Workflow ID", "data-testid": "search-id",
    "aria-label": "Find a workflow by ID" });
  const nameInput = h("input", { type: "search", placeholder: "Workflow name", value: name,
    "aria-label": "Filter by name" });
  const find = h("form", { class: "toolbar-form", onsubmit: (e) => {
    e.preventDefault();
    if (idInput.value.trim()) location.hash = "/workflow/" + encodeURIComponent(idInput.value.trim());
  } }, idInput, " ", h("button", { class: "btn", type: "submit", "data-testid": "search-go" }, "Open"));
  const pills = h("div", { class: "pills", role: "group", "aria-label": "Status" },
    STATUSES.map((s) => h("button", { class: s === status ? "on" : "", onclick: () => go({ status: s, after: "", back: "" }) },
      s ? s[0] + s.slice(1).toLowerCase() : "All")));
  nameInput.addEventListener("change", () => go({ name: nameInput.value.trim(), after: "", back: "" }));
  const body = h("tbody");
  const pager = h("div", { class: "pager" });
  $view.append(
    h("h1", {}, "Workflows"),
    h("div", { class: "toolbar" }, pills, nameInput, h("span", { class: "grow" }), find),
    h("div", { class: "panel" },
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Status", "Workflow ID", "Name", "Started", "Duration"].map((t) => h("th", {}, t)))),
        body),
      pager));

  const load = async () => {
    const q = new URLSearchParams({ limit: "50" });
    if (status) q.set("status", status);
    if (name) q.set("name", name);
    if (after) q.set("after", after);
    let page;
    try { page = await api("/api/workflows?" + q); } catch (e) { toast(e.message, true); return; }
    const now = Date.now();
    body.replaceChildren(...(page.workflows.length ? page.workflows.map((wf) => h("tr", { "data-testid": "wf-row", dataset: { id: wf.workflow_id } },
      h("td", {}, badge(wf.status)),
      h("td", { class: "mono" }, h("a", { href: "#/workflow/" + encodeURIComponent(wf.workflow_id) }, wf.workflow_id)),
      h("td", {}, wf.name),
      h("td", { title: new Date(wf.created_at).toISOString() }, fmtTime(wf.created_at)),
      h("td", { class: "num" }, fmtDuration((wf.ended_at || now) - wf.created_at)))) :
      [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No workflows match."))]));
    const stack = back ? back.split(",") : [];
    pager.replaceChildren(
      h("button", { class: "btn", disabled: !after, onclick: () => go({ after: stack.slice(0, -1).pop() || "", back: stack.slice(0, -1).join(",") }) }, "← Newer"),
      h("button", { class: "btn", disabled: !page.next, onclick: () => go({ after: page.next, back: [...stack, after].join(",") }) }, "Older →"));
  };
  await load();
  if (!after) state.timers.push(setInterval(load, 3000)); // the first page follows new workflows
}

// -- one workflow --------------------------------------------------------------

async function showWorkflow(id) {
  const root = h("div", { "data-testid": "workflow" });
  $view.append(h("div", { class: "muted" }, h("a", { href: "#/workflows" }, "← Workflows")), root);
  let wf;
  try { wf = await api("/api/workflows/" + encodeURIComponent(id)); } catch (e) {
    root.append(h("div", { class: "panel empty" }, e.message));
    return;
  }
  const view = { wf, selected: null, seenMarks: new Map(), first: true };
  renderWorkflow(root, view);
  if (wf.status === "PENDING") {
    const source = new EventSource("/api/workflows/" + encodeURIComponent(id) + "/live");
    state.live = source;
    source.addEventListener("workflow", (e) => { view.wf = merge(view.wf, JSON.parse(e.data)); renderSoon(root, view); });
    source.addEventListener("end", () => { source.close(); renderWorkflow(root, view); });
    // Running bars grow with the clock between updates.
    state.timers.push(setInterval(() => {
      if (view.wf.status === "PENDING" && view.wf.steps.length < BIG) { view.wf.now += 1000; renderWorkflow(root, view); }
    }, 1000));
  }
}

// A live message after the first carries only the new steps and events.
function merge(old, next) {
  if (!next.partial) return next;
  const steps = new Map(old.steps.map((s) => [s.step_number, s]));
  for (const s of next.steps) steps.set(s.step_number, s);
  return Object.assign({}, next, {
    steps: [...steps.values()].sort((a, b) => a.step_number - b.step_number),
    events: old.events.concat(next.events),
    steps_cut: old.steps_cut || next.steps_cut,
  });
}

// Re-draw at once for a small timeline; a large one at most every 2 s.
const BIG = 300;
function renderSoon(root, view) {
  if (view.wf.steps.length < BIG) return renderWorkflow(root, view);
  if (view.pending) return;
  view.pending = setTimeout(() => { view.pending = null; renderWorkflow(root, view); }, 2000);
}

function renderWorkflow(root, view) {
  const wf = view.wf, live = wf.status === "PENDING" && state.live && state.live.readyState !== 2;
  const end = wf.ended_at || wf.now;
  const actions = h("div", { class: "actions" });
  if (wf.status === "PENDING") {
    actions.append(h("button", { class: "btn btn-danger", "data-testid": "cancel", onclick: () => cancel(wf, view, root) }, "Cancel…"));
  }
  if (state.features.resume && wf.status !== "PENDING" && wf.status !== "SUCCESS") {
    actions.append(h("button", { class: "btn", onclick: () => act(wf, "resume", "Resume", root, view) }, "Resume…"));
  }
  if (state.features.fork) {
    actions.append(h("button", { class: "btn", onclick: () => act(wf, "fork", "Fork", root, view) }, "Fork…"));
  }
  root.replaceChildren(
    h("div", { class: "wf-head" }, h("h1", {}, wf.workflow_id), badge(wf.status),
      live ? h("span", { class: "live-dot" }, "live") : null, actions),
    h("div", { class: "facts" },
      h("span", {}, "name ", h("b", {}, wf.name)),
      h("span", {}, "started ", h("b", {}, fmtTime(wf.created_at))),
      h("span", {}, wf.ended_at ? "took " : "running for ", h("b", {}, fmtDuration(end - wf.created_at))),
      h("span", {}, "steps ", h("b", {}, String(Math.max(wf.step_seq || 0, wf.steps.length)))),
      wf.worker_id ? h("span", {}, "on worker ", h("b", {}, wf.worker_id)) : null,
      wf.deadline_at ? h("span", {}, "deadline ", h("b", {}, fmtTime(wf.deadline_at))) : null),
    h("div", { class: "panel" }, h("h2", {}, "Timeline"), legend(), timeline(wf, view, root),
      wf.steps_cut ? h("p", { class: "muted" }, "Only the first steps are shown; `coordinator steps` lists them all.") : null,
      detail(wf, view)),
    h("div", { class: "panel" }, h("h2", {}, "Events and messages"), marksList(wf, view)),
    h("div", { class: "panel payloads" },
      h("div", {}, h("h2", {}, "Input"), h("pre", { "data-testid": "input" }, payload(wf.input))),
      h("div", {}, h("h2", {}, "Output"), h("pre", { "data-testid": "output" }, wf.output ? payload(wf.output) : (wf.status === "PENDING" ? "(running)" : "—"))),
      wf.error ? h("div", {}, h("h2", {}, "Error"), h("pre", { class: "error", "data-testid": "error" },
        `${wf.error.type}: ${wf.error.message}${wf.error.details ? "\n\n" + wf.error.details : ""}`)) : null));
  view.first = false;
}

const legend = () => h("div", { class: "tl-legend" },
  h("span", { class: "lg-ok" }, "step"), h("span", { class: "lg-err" }, "failed"), h("span", { class: "lg-run" }, "running"),
  h("span", { class: "lg-sleep" }, "sleep"), h("span", { class: "lg-win" }, "select winner"),
  h("span", { class: "lg-ev" }, "event"), h("span", { class: "lg-msg" }, "message"));

const MARK_KINDS = { SET_EVENT: "event", GET_EVENT: "event", SEND: "message", RECV: "message" };

function ticks(span) {
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000];
  const every = steps.find((s) => span / s <= 8) || 3600000;
  const out = [];
  for (let t = 0; t <= span; t += every) out.push(t);
  return out;
}

function timeline(wf, view, root) {
  const t0 = wf.created_at;
  const runningEnd = wf.now;
  let t1 = Math.max(wf.ended_at || runningEnd, t0 + 1);
  for (const s of wf.steps) t1 = Math.max(t1, s.completed_at, s.wake_at || 0);
  const span = t1 - t0;
  const x = (t) => `${Math.min(100, Math.max(0, ((t - t0) / span) * 100))}%`;
  const w = (a, b) => `${Math.max(0, ((Math.min(b, t1) - Math.max(a, t0)) / span) * 100)}%`;
  const gridLayer = h("div", { class: "tl-gridlayer" }, ticks(span).map((t) => h("div", { class: "tl-grid", style: { left: x(t0 + t) } })));

  // Who won which select: winners get a ring, the other candidates are dimmed.
  const winners = new Map(), losers = new Map();
  for (const s of wf.steps) {
    if (!s.select) continue;
    winners.set(s.select.winner, s.step_number);
    for (const c of s.select.candidates || []) if (c !== s.select.winner) losers.set(c, s.step_number);
  }
  const rows = [];
  // The marks lane: events set and read, messages sent and received.
  const marks = wf.steps.filter((s) => MARK_KINDS[s.kind]);
  rows.push(h("div", { class: "tl-row tl-marks" }, h("div", { class: "tl-label" }, "events & messages"),
    h("div", { class: "tl-track" }, marks.map((s) => {
      const key = `${s.step_number}`;
      if (!view.seenMarks.has(key)) view.seenMarks.set(key, view.first ? 0 : Date.now());
      const fresh = Date.now() - view.seenMarks.get(key) < 2000;
      return h("div", { class: `mark ${MARK_KINDS[s.kind]}${fresh ? " fresh" : ""}`, style: { left: x(s.completed_at) },
        title: `#${s.step_number} ${s.kind} ${s.name} at +${fmtDuration(s.completed_at - t0)} ${short(s.output)}`,
        "data-testid": "mark", dataset: { kind: s.kind, key: s.name },
        onclick: () => { view.selected = s.step_number; renderWorkflow(root, view); } });
    }), marks.length <= 12 ? marks.map((s) => h("span", { class: "mark-text", style: (s.completed_at - t0) / span > 0.85
      ? { right: `calc(${100 - parseFloat(x(s.completed_at))}% + 9px)` } : { left: `calc(${x(s.completed_at)} + 9px)` } },
      s.kind === "SET_EVENT" ? `${s.name}=${short(s.output)}` : s.name)) : null)));
  rows.push(h("div", { class: "tl-section" }, "steps"));
  const recorded = new Set(wf.steps.map((s) => s.step_number));
  const items = [
    ...wf.steps.filter((s) => !MARK_KINDS[s.kind]),
    ...wf.running.filter((r) => !recorded.has(r.step_number)).map((r) => ({ ...r, kind: "RUNNING", completed_at: null })),
  ].sort((a, b) => a.step_number - b.step_number);
  for (const s of items) {
    const track = h("div", { class: "tl-track" });
    const label = h("div", { class: "tl-label", title: `${s.name} (step ${s.step_number})` },
      h("span", { class: "n" }, `#${s.step_number}`), h("span", { class: "name" }, s.kind === "SELECT" ? "select" : s.name));
    const tags = [];
    if (s.kind === "SELECT") {
      const sel = s.select;
      tags.push(h("span", { class: "tag win", "data-testid": "select-winner" }, `→ #${sel.winner}`));
      track.append(h("div", { class: "mark select", style: { left: x(s.completed_at) },
        title: `select of ${(sel.candidates || [sel.winner]).map((c) => "#" + c).join(", ")}: #${sel.winner} won` }));
      const won = wf.steps.find((o) => o.step_number === sel.winner);
      if (won) track.append(h("div", { class: "select-link", style: { left: x(won.completed_at), width: w(won.completed_at, s.completed_at) } }));
      track.append(h("span", { class: "bar-text", style: { left: `calc(${x(s.completed_at)} + 10px)` } },
        `of ${(sel.candidates || ["?"]).map((c) => "#" + c).join(" ")}`));
    } else if (s.kind === "RUNNING") {
      tags.push(h("span", { class: "tag" }, s.attempt > 1 ? `attempt ${s.attempt}` : "running"));
      track.append(h("div", { class: "bar running", style: { left: x(s.started_at), width: w(s.started_at, runningEnd) },
        "data-testid": "bar", dataset: { step: s.step_number } }));
    } else {
      const isSleep = s.kind === "SLEEP";
      const stop = isSleep ? Math.max(s.completed_at, s.wake_at || 0) : s.completed_at;
      const cls = ["bar", isSleep ? "sleep" : "", s.error ? "error" : "", winners.has(s.step_number) ? "winner" : "",
        losers.has(s.step_number) ? "loser" : "", s.attempt > 1 ? "retried" : ""].filter(Boolean).join(" ");
      track.append(h("div", { class: cls, style: { left: x(s.started_at), width: w(s.started_at, stop) },
        "data-testid": "bar", dataset: { step: s.step_number, name: s.name } }));
      // The duration beside the bar, or before it when the bar ends near the right edge.
      const nearEnd = (stop - t0) / span > 0.85;
      track.append(h("span", { class: "bar-text", style: nearEnd ? { right: `calc(${100 - parseFloat(x(s.started_at))}% + 6px)` }
        : { left: `calc(${x(stop)} + 6px)` } }, fmtDuration(stop - s.started_at)));
      if (winners.has(s.step_number)) tags.push(h("span", { class: "tag win", "data-testid": "winner" }, "won"));
      else if (losers.has(s.step_number)) tags.push(h("span", { class: "tag lost" }, "lost"));
      if (s.attempt > 1) tags.push(h("span", { class: "tag" }, `attempt ${s.attempt}`));
    }
    label.append(...tags);
    if (s.worker_id) label.append(h("span", { class: "who" }, s.worker_id));
    const select = () => { view.selected = s.step_number; renderWorkflow(root, view); };
    label.addEventListener("click", select);
    track.addEventListener("click", select);
    rows.push(h("div", { class: "tl-row" + (view.selected === s.step_number ? " selected" : ""), "data-testid": "step-row",
      dataset: { step: s.step_number, kind: s.kind } }, label, track));
  }
  if (!items.length) rows.push(h("div", { class: "empty" }, "No steps yet."));
  const axis = h("div", { class: "tl-axis" }, h("div", {}), h("div", { class: "tl-track" },
    ticks(span).map((t) => h("span", { class: "tick", style: { left: x(t0 + t), transform: t / span > 0.95 ? "translateX(-100%)" : "" } },
      t === 0 ? "0" : "+" + fmtDuration(t)))));
  return h("div", { class: "timeline", "data-testid": "timeline" }, gridLayer, axis, rows);
}

function detail(wf, view) {
  if (view.selected === null) return h("p", { class: "muted" }, "Click a step for its output, worker and timing.");
  const s = wf.steps.find((o) => o.step_number === view.selected) || wf.running.find((o) => o.step_number === view.selected);
  if (!s) return null;
  const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
  return h("div", { class: "detail", "data-testid": "detail" },
    h("h2", {}, `Step #${s.step_number}: ${s.name}`),
    h("dl", {},
      row("kind", s.kind || "STEP (running)"),
      row("started", s.started_at ? `${fmtTime(s.started_at)} (+${fmtDuration(s.started_at - wf.created_at)})` : "—"),
      row("took", s.completed_at ? fmtDuration(s.completed_at - s.started_at) : "running"),
      row("worker", s.worker_id || "—"),
      row("attempt", String(s.attempt || 0)),
      s.worker_token ? row("token", s.worker_token) : null,
      s.select ? row("select", `candidates ${(s.select.candidates || []).map((c) => "#" + c).join(", ") || "(not recorded)"}; winner #${s.select.winner}`) : null),
    s.error ? h("pre", { class: "error" }, `${s.error.type}: ${s.error.message}`) : h("pre", {}, payload(s.output)));
}

function marksList(wf, view) {
  const marks = wf.steps.filter((s) => MARK_KINDS[s.kind]);
  if (!marks.length) return h("p", { class: "muted" }, "None yet.");
  const what = { SET_EVENT: "set event", GET_EVENT: "read event", SEND: "sent message", RECV: "received message" };
  return h("div", { class: "marks-list" }, marks.map((s) => h("div", { class: "item", "data-testid": "mark-item", dataset: { kind: s.kind, key: s.name } },
    h("div", {}, h("b", {}, what[s.kind]), " ", h("span", { class: "mono" }, s.name), h("span", { class: "muted" }, ` · +${fmtDuration(s.completed_at - wf.created_at)}`)),
    h("div", { class: "mono muted" }, short(s.output)))));
}

async function cancel(wf, view, root) {
  if (!await confirmModal("Cancel this workflow?", `${wf.workflow_id} (${wf.name}) stops at its next step; this cannot be undone.`, "Cancel workflow")) return;
  try {
    const done = await api(`/api/workflows/${encodeURIComponent(wf.workflow_id)}/cancel`, { method: "POST" });
    view.wf = Object.assign({}, view.wf, { status: done.status, ended_at: done.ended_at, error: done.error });
    stopLive();
    renderWorkflow(root, view);
    toast(`${wf.workflow_id} is ${done.status}`);
  } catch (e) { toast(e.message, true); }
}

async function act(wf, what, label, root, view) {
  if (!await confirmModal(`${label} this workflow?`, wf.workflow_id, label)) return;
  try {
    const done = await api(`/api/workflows/${encodeURIComponent(wf.workflow_id)}/${what}`, { method: "POST" });
    toast(`${label}: done`);
    if (what === "fork" && done.workflow_id) location.hash = `#/workflow/${encodeURIComponent(done.workflow_id)}`;
    else route();
  }
  catch (e) { toast(e.message, true); }
}

// -- workers and queues ----------------------------------------------------------

function meter(used, total) {
  const pct = total ? Math.min(100, (used / total) * 100) : 0;
  return h("div", { class: "meter-cell" },
    h("div", { class: "meter" }, h("div", { style: { width: pct + "%" } })), h("span", { class: "num" }, `${used} / ${total}`));
}

async function showWorkers() {
  const body = h("tbody");
  $view.append(h("h1", {}, "Workers"), h("p", { class: "muted" }, "Connected to this coordinator."),
    h("div", { class: "panel" }, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Worker", "Workflows", "Steps", "Workflow slots", "Step slots", "Heartbeat", "State"].map((t) => h("th", {}, t)))), body)));
  const load = async () => {
    let data;
    try { data = await api("/api/workers"); } catch (e) { toast(e.message, true); return; }
    body.replaceChildren(...(data.workers.length ? data.workers.map((w) => h("tr", { "data-testid": "worker-row" },
      h("td", { class: "mono" }, w.worker_id),
      h("td", {}, w.workflows.map((n) => h("span", { class: "chip" }, n))),
      h("td", {}, w.steps.map((n) => h("span", { class: "chip" }, n))),
      h("td", {}, meter(w.workflows_running, w.workflow_slots)),
      h("td", {}, meter(w.steps_running, w.step_slots)),
      h("td", { class: "num" }, `${w.silent_for.toFixed(1)} s ago`),
      h("td", {}, w.draining ? "draining" : (w.congested ? "congested" : "ready")))) :
      [h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No worker is connected."))]));
  };
  await load();
  state.timers.push(setInterval(load, 2000));
}

async function showQueues() {
  $view.append(h("h1", {}, "Queues"));
  if (!state.features.queues) {
    $view.append(h("div", { class: "panel empty", "data-testid": "queues-later" },
      "This coordinator has no queues yet. Once it does, this page shows each queue's limits, and how many workflows are enqueued and running."));
    return;
  }
  const data = await api("/api/queues");
  $view.append(h("div", { class: "panel" }, h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, ["Queue", "Concurrency", "Per worker", "Rate limit", "Enqueued", "Running"].map((t) => h("th", {}, t)))),
    h("tbody", {}, data.queues.map((q) => h("tr", {}, h("td", { class: "mono" }, q.name), h("td", {}, q.concurrency ?? "—"),
      h("td", {}, q.worker_concurrency ?? "—"), h("td", {}, q.rate_limit ? `${q.rate_limit.limit} / ${q.rate_limit.seconds} s` : "—"),
      h("td", { class: "num" }, q.enqueued ?? 0), h("td", { class: "num" }, q.running ?? 0)))))));
}

// -- start -----------------------------------------------------------------------

(async function start() {
  try {
    const o = await api("/api/overview");
    state.features = o.features;
    state.auth = o.auth;
    document.getElementById("node").textContent = `coordinator ${o.node_id}`;
    document.getElementById("logout").hidden = !o.auth;
  } catch (e) { toast(e.message, true); }
  window.addEventListener("hashchange", route);
  route();
})();
