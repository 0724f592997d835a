// The llmesh dashboard: polls /api/<view> every POLL_MS and redraws the open view.
// Plain DOM, no framework, no build step; every value from the server goes in as text.
"use strict";

const POLL_MS = 2000;
const HISTORY = 60;          // points per sparkline, kept here between polls
const VIEWS = ["hosts", "models", "jobs", "deployments", "lineage", "events", "audit"];
const HINTS = {
  models: "query language, e.g. name = 'tiny' AND host = 'alpha'  ·  kind = 'lora'  ·  metric.accuracy > 0.8",
  hosts: "host name contains…", jobs: "model or destination contains…", deployments: "model, host or served name contains…",
  lineage: "a version: NAME:VERSION", events: "action, resource or actor contains…",
  audit: "the audit log, as `meshctl audit` shows it: filter by actor, action (or a family: user) and since (1h, 7d)",
};
const AUDIT_FILTERS = ["actor", "action", "since"];  // `meshctl audit --actor --since`, and an action
const state = { view: "hosts", offset: 0, me: null, timer: null, history: new Map(), jobSeen: new Map() };

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "width") node.style.width = value;  // CSSOM: allowed where style="" is not (CSP)
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0; let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}
const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "");
const pill = (text) => el("span", { class: `pill ${text}` }, text);
function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
}

async function api(path) {
  const reply = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (reply.status === 401) { location.href = "/login"; throw new Error("logged out"); }
  const body = await reply.json();
  if (!reply.ok) throw new Error(body.error || reply.statusText);
  return body;
}

async function post(action, data) {
  const reply = await fetch(`/api/${action}`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.me.csrf }, body: JSON.stringify(data),
  });
  const body = await reply.json();
  if (!reply.ok) throw new Error(body.error || reply.statusText);
  return body;
}

// -- sparklines ----------------------------------------------------------------------------

function remember(key, value) {
  const points = state.history.get(key) || [];
  points.push(value === null || value === undefined ? null : Number(value));
  while (points.length > HISTORY) points.shift();
  state.history.set(key, points);
  return points;
}

function sparkline(points, max, label, unit) {
  const w = 120; const h = 28;
  const known = points.filter((p) => p !== null);
  const top = max || Math.max(1, ...known);
  const step = w / (Math.max(points.length, 12) - 1);  // grows from the left until HISTORY points
  const start = 0;
  const xy = points.map((p, i) => (p === null ? null : [(start + i) * step, h - 2 - (Math.min(p, top) / top) * (h - 4)]))
    .filter(Boolean);
  const coords = xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", w); svg.setAttribute("height", h); svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("role", "img"); svg.setAttribute("aria-label", label);
  if (xy.length) {  // the area under the line, so that a short or flat history still shows
    const area = document.createElementNS(ns, "polygon");
    area.setAttribute("points", `${xy[0][0].toFixed(1)},${h} ${coords} ${xy[xy.length - 1][0].toFixed(1)},${h}`);
    area.setAttribute("fill", "#dbeafe");
    svg.append(area);
  }
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", coords); line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#2563eb"); line.setAttribute("stroke-width", "1.5");
  svg.append(line);
  const last = known.length ? known[known.length - 1] : null;
  return el("span", { class: "gpu-chart" }, svg, " ",
    el("span", { class: "spark-label" }, `${label} ${last === null ? "n/a" : `${unit === "B" ? bytes(last) : last.toFixed(0) + unit}`}`));
}

// -- views -------------------------------------------------------------------------------

function hostsView(data) {
  const rows = data.items.map((h) => {
    const facts = h.facts || {}; const hw = h.hardware || {};
    const disks = (hw.disks || []).map((d) => el("div", { class: "path" },
      d.error ? `${d.path}: ${d.error}` : `${d.path}: ${bytes(d.free_bytes)} free of ${bytes(d.total_bytes)}`));
    const gpus = (hw.gpus || []).map((g) => {
      const key = `${h.name}/${g.index || 0}`;
      const used = remember(`${key}/mem`, h.status === "online" ? g.memory_used_bytes : null);
      const util = remember(`${key}/util`, h.status === "online" ? g.utilization_percent : null);
      const temp = remember(`${key}/temp`, h.status === "online" ? g.temperature_c : null);
      return el("div", { class: "gpu", "data-gpu": key },
        el("div", { class: "cell" }, `#${g.index || 0} ${g.name || ""} · ${bytes(g.memory_used_bytes)} / ${bytes(g.memory_total_bytes)}`),
        el("div", { class: "charts" }, sparkline(used, g.memory_total_bytes, "mem", "B"), sparkline(util, 100, "util", "%"),
          sparkline(temp, 100, "temp", "°C")));
    });
    return el("tr", { "data-host": h.name, "data-status": h.status },
      el("td", {}, el("strong", {}, h.name), el("div", { class: "muted cell" }, h.peer_address || "")),
      el("td", {}, pill(h.status)),
      el("td", {}, h.agent_version || ""),
      el("td", {}, `${facts.os || facts.platform || ""} ${facts.arch || ""}`),
      el("td", { class: "cell" }, `${facts.cpu_count || "?"} CPUs${hw.cpu_percent !== undefined ? ` · ${Number(hw.cpu_percent).toFixed(0)}% busy` : ""}`,
        el("div", {}, `RAM ${bytes(hw.memory_available_bytes)} free of ${bytes(hw.memory_total_bytes || facts.memory_total_bytes)}`)),
      el("td", {}, disks),
      el("td", {}, gpus.length ? gpus : el("span", { class: "muted" }, hw.gpu_error || "no GPU")),
      el("td", { class: "num" }, h.model_count));
  });
  return table(["host", "status", "agent", "OS", "CPU / RAM", "free space per root", "GPUs (live)", "models"], rows);
}

function modelsView(data) {
  const hosts = data.hosts;
  const rows = data.items.map((v) => {
    const cells = hosts.map((host) => {
      const copy = v.copies.find((c) => c.host === host);
      const served = v.deployed.filter((d) => d.host === host);
      return el("td", { class: "cell", "data-cell": `${v.ref}@${host}` },
        copy ? pill(copy.state) : el("span", { class: "muted" }, "—"),
        served.map((d) => el("div", { class: "deployed" }, `▶ ${d.backend} ${d.served_name}`)));
    });
    return el("tr", { "data-version": v.ref },
      el("td", {}, el("a", { href: `#lineage/${encodeURIComponent(v.ref)}` }, v.ref),
        v.aliases && v.aliases.length ? el("div", { class: "muted cell" }, v.aliases.map((a) => `@${a.alias || a}`).join(" ")) : null),
      el("td", {}, v.kind), el("td", {}, v.format), el("td", { class: "num" }, bytes(v.size_bytes)),
      el("td", {}, pill(v.state || "")), cells);
  });
  return table(["version", "kind", "format", "size", "state", ...hosts], rows);
}

function jobsView(data) {
  const canCancel = state.me.can.cancel_job;
  const now = Date.now() / 1000;
  const rows = data.items.map((j) => {
    const done = j.bytes_done || 0; const total = j.bytes_total || 0;
    const share = total ? done / total : 0;
    const seen = state.jobSeen.get(j.id);
    let speed = null;
    if (seen && now > seen.at && done >= seen.done) speed = (done - seen.done) / (now - seen.at);
    if (!seen || done !== seen.done) state.jobSeen.set(j.id, { at: now, done });
    const eta = speed && speed > 0 && total > done ? `${Math.ceil((total - done) / speed)} s` : "";
    const active = !["completed", "failed", "cancelled"].includes(j.state);
    return el("tr", { "data-job": j.id, "data-state": j.state, "data-done": done },
      el("td", { class: "cell" }, j.id.slice(0, 12)), el("td", {}, j.kind), el("td", {}, j.ref),
      el("td", {}, `${(j.sources || []).join(", ") || j.source_host || "?"} → ${j.destination}`),
      el("td", {}, pill(j.state), j.error ? el("div", { class: "error cell" }, j.error) : null),
      el("td", {}, el("div", { class: "bar", title: `${(share * 100).toFixed(1)}%` }, el("span", { width: `${(share * 100).toFixed(1)}%` })),
        el("div", { class: "cell progress" }, `${bytes(done)} / ${bytes(total)} (${(share * 100).toFixed(1)}%)`)),
      el("td", { class: "num" }, speed ? `${bytes(speed)}/s` : ""), el("td", { class: "num" }, eta),
      el("td", {}, canCancel && active ? el("button", {
        class: "danger", type: "button", "data-action": "cancel_job",
        onclick: async () => { try { await post("cancel_job", { job: j.id }); refresh(); } catch (e) { $("status").textContent = e.message; } },
      }, "cancel") : null));
  });
  return table(["job", "kind", "version", "source → destination", "state", "progress", "speed", "ETA", ""], rows);
}

function deploymentsView(data) {
  const rows = data.items.map((d) => el("tr", { "data-deployment": d.served_name, "data-host": d.host },
    el("td", {}, d.host), el("td", {}, d.ref), el("td", {}, d.backend), el("td", {}, d.served_name),
    el("td", { class: "cell" }, d.endpoint), el("td", {}, pill(d.state), d.error ? el("div", { class: "error cell" }, d.error) : null),
    el("td", { class: "num" }, d.restarts), el("td", { class: "cell" }, when(d.created_at))));
  return table(["host", "version", "backend", "served name", "endpoint", "health", "restarts", "since"], rows);
}

function lineageView(data) {
  if (!data) return el("p", { class: "muted" }, "Type a version (NAME:VERSION) above to see its lineage.");
  const byChild = new Map();
  for (const a of data.ancestors || []) {
    const list = byChild.get(a.child) || []; list.push(a); byChild.set(a.child, list);
  }
  const branch = (ref) => el("ul", { class: "tree" }, (byChild.get(ref) || []).map((a) => {
    const parent = `${a.name}:${a.version}`;
    return el("li", { "data-parent": parent }, el("strong", {}, parent), ` ${a.relation || ""} `, pill(a.state || ""),
      (a.datasets || []).map((d) => el("span", { class: "muted cell" }, ` dataset ${d.name}`)), branch(parent));
  }));
  const me = data.version ? `${data.name}:${data.version}` : $("q").value;
  return el("div", {}, el("h3", {}, me),
    el("p", { class: "muted" }, "parents:"), branch(me),
    el("p", { class: "muted" }, "children:"),
    el("ul", { class: "tree" }, (data.children || []).map((c) => el("li", {}, `${c.name}:${c.version} (${c.relation})`))));
}

function eventsView(data) {
  const rows = data.items.map((e) => el("tr", { "data-event": e.id },
    el("td", { class: "cell" }, when(e.ts)), el("td", { class: "path" }, e.actor), el("td", {}, e.role || ""),
    el("td", {}, e.action), el("td", { class: "path" }, e.resource), el("td", {}, pill(e.result || "ok")),
    el("td", { class: "path muted" }, JSON.stringify(e.detail || e.detail_json || {}).slice(0, 160))));
  return table(["time", "actor", "role", "action", "resource", "result", "detail"], rows);
}

function auditView(data) {
  // `meshctl audit`'s columns: who, in which role, did what to what, with what result, from where.
  const rows = data.items.map((e) => el("tr", { "data-audit": e.id },
    el("td", { class: "cell" }, when(e.ts)), el("td", { class: "path" }, e.actor), el("td", {}, e.role),
    el("td", {}, e.action), el("td", { class: "path" }, e.resource), el("td", {}, pill(e.result)),
    el("td", { class: "path muted" }, e.source),
    el("td", { class: "path muted" }, JSON.stringify(e.detail || {}).slice(0, 160))));
  return table(["time", "actor", "role", "action", "resource", "result", "source", "detail"], rows);
}

const RENDER = { hosts: hostsView, models: modelsView, jobs: jobsView, deployments: deploymentsView,
  lineage: lineageView, events: eventsView, audit: auditView };

// -- the loop ------------------------------------------------------------------------------

async function refresh() {
  clearTimeout(state.timer);
  const view = state.view;
  const q = $("q").value.trim();
  try {
    let data = null;
    if (view !== "lineage" || q) {
      const params = new URLSearchParams({ offset: state.offset, q });
      if (view === "lineage") params.set("ref", q);
      if ($("all").checked) params.set("all", "1");
      if (view === "audit") for (const f of AUDIT_FILTERS) params.set(f, $(f).value.trim());
      data = await api(`/api/${view}?${params}`);
    }
    if (view !== state.view) return;
    $("view").replaceChildren(RENDER[view](data));
    const count = data && data.items ? data.items.length : 0;
    $("pageinfo").textContent = data && data.items ? `${state.offset + (count ? 1 : 0)}–${state.offset + count}${data.total !== undefined ? ` of ${data.total}` : ""}` : "";
    $("prev").disabled = state.offset === 0;
    $("next").disabled = !(data && data.more);
    $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (view === state.view) { $("view").replaceChildren(el("p", { class: "error", id: "view-error" }, e.message)); }
  }
  state.timer = setTimeout(refresh, POLL_MS);
}

function show(view) {
  state.view = VIEWS.includes(view) ? view : "hosts";
  state.offset = 0;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.view === state.view);
  $("hint").textContent = HINTS[state.view] || "";
  $("all-label").hidden = !["jobs", "deployments"].includes(state.view);
  $("audit-filters").hidden = state.view !== "audit";
  $("q").hidden = state.view === "audit";
  document.body.dataset.view = state.view;
  refresh();
}

async function start() {
  state.me = await api("/api/me");
  $("who").textContent = `${state.me.name} (${state.me.role})`;
  $("who").dataset.role = state.me.role;
  $("logout-csrf").value = state.me.csrf;
  $("audit-tab").hidden = !state.me.can.audit;
  let typing = null;
  $("q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { state.offset = 0; refresh(); }, 300); });
  for (const f of AUDIT_FILTERS) {
    $(f).addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { state.offset = 0; refresh(); }, 300); });
  }
  $("all").addEventListener("change", () => { state.offset = 0; refresh(); });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - 50); refresh(); });
  $("next").addEventListener("click", () => { state.offset += 50; refresh(); });
  const route = () => {  // #view or #view/search
    const [view, ...rest] = location.hash.slice(1).split("/");
    $("q").value = rest.length ? decodeURIComponent(rest.join("/")) : (view === "lineage" ? $("q").value : "");
    show(view);
  };
  window.addEventListener("hashchange", route);
  route();
}

document.addEventListener("DOMContentLoaded", start);
