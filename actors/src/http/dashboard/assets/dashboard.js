// kube-devops dashboard: renders the views of the JSON API under api/v1/ and keeps them
// current through server-sent events (api/v1/events). The URL fragment holds the view and
// its filters (#/namespaces?severity=high&failing=1), so every state is a deep link.
// Every text is set with textContent: names and messages from the cluster never become
// markup.
"use strict";

const VIEWS = ["overview", "namespaces", "namespace", "checks", "policies"];
const SEVERITIES = ["critical", "high", "medium", "low"];
const FILTERS = ["q", "namespace", "severity", "failing"];
const main = document.getElementById("content");
const live = document.getElementById("live");

// ---- small DOM helpers -------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
  return node;
}
const fmtScore = (s) => (s === null || s === undefined ? "–" : s.toFixed(1));
const pill = (c) => (c ? el("span", { class: "pill " + c.toLowerCase(), text: c }) : el("span", { class: "meta", text: "no pods" }));
const sevBadge = (s) => el("span", { class: "badge sev-" + s, text: s });
const num = (v, field) => el("td", { class: "num", "data-field": field, text: String(v) });
const td = (v, field) => el("td", { "data-field": field }, v);
function table(caption, heads, rows, attrs) {
  return el("table", attrs || {},
    el("caption", { class: "visually-hidden", text: caption }),
    el("thead", {}, el("tr", {}, heads)),
    el("tbody", {}, rows));
}
const th = (text, cls) => el("th", { scope: "col", class: cls, text });

// ---- routing -------------------------------------------------------------------------
function route() {
  const raw = location.hash.replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const parts = path.split("/").map((p) => { try { return decodeURIComponent(p); } catch (e) { return p; } });
  const view = VIEWS.includes(parts[0]) ? parts[0] : "overview";
  return { view, arg: parts.slice(1).join("/"), params };
}
function link(view, arg, params) {
  let h = "#/" + view + (arg ? "/" + encodeURIComponent(arg) : "");
  const qs = params ? params.toString() : "";
  return qs ? h + "?" + qs : h;
}
function filterParams(params) {
  const out = new URLSearchParams();
  for (const k of FILTERS) if (params.get(k)) out.set(k, params.get(k));
  return out;
}

// ---- data ------------------------------------------------------------------------------
// With --ops-token-file the data paths need `Authorization: Bearer <token>`. The page asks
// for it once on a 401 and keeps it for this tab only (sessionStorage), never in the URL.
const TOKEN_KEY = "kube-devops-ops-token";
function opsToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
}
function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const t = opsToken();
  if (t) h.Authorization = "Bearer " + t;
  return h;
}
function askToken() {
  const t = (window.prompt("This dashboard's data need the ops token (--ops-token-file):") || "").trim();
  try { if (t) sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* not kept */ }
  return t;
}
async function getJson(path, retried) {
  const res = await fetch(path, { headers: authHeaders({ Accept: "application/json" }), cache: "no-store" });
  if (res.status === 401 && !retried && askToken()) return getJson(path, true);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.status + " " + res.statusText);
  return body;
}

// ---- views -----------------------------------------------------------------------------
function card(label, value, metric, extra) {
  return el("div", { class: "card" + (extra ? " " + extra : "") },
    el("p", { class: "label", text: label }),
    el("p", { class: "big", "data-metric": metric, text: String(value) }));
}

function trendChart(points) {
  const scored = points.filter((p) => p.score !== null);
  if (scored.length < 2) {
    return el("p", { class: "empty", text: "The trend fills in as the controller samples the cluster score once a minute (" + points.length + " sample" + (points.length === 1 ? "" : "s") + " so far)." });
  }
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 640 80");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "trend");
  svg.setAttribute("role", "img");
  const first = scored[0], last = scored[scored.length - 1];
  const min = Math.min(...scored.map((p) => p.score)), max = Math.max(...scored.map((p) => p.score));
  svg.setAttribute("aria-label", "Cluster score from " + fmtScore(first.score) + " to " + fmtScore(last.score) + " over " + scored.length + " samples, lowest " + fmtScore(min) + ", highest " + fmtScore(max));
  const t0 = Date.parse(first.at), t1 = Date.parse(last.at) || t0 + 1;
  const pts = scored.map((p) => {
    const x = ((Date.parse(p.at) - t0) / Math.max(1, t1 - t0)) * 640;
    const y = 78 - (p.score / 100) * 76;
    return x.toFixed(1) + "," + y.toFixed(1);
  });
  const base = document.createElementNS(ns, "line");
  for (const [k, v] of [["x1", 0], ["x2", 640], ["y1", 78], ["y2", 78]]) base.setAttribute(k, v);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.join(" "));
  svg.append(base, line);
  return svg;
}

function renderOverview(o) {
  const sev = el("ul", { class: "severities" }, SEVERITIES.map((s) =>
    el("li", {}, sevBadge(s), el("span", { "data-metric": "severity-" + s, text: String(o.severities[s] || 0) }))));
  const categories = table("Findings by category", [th("Category"), th("Findings", "num")],
    Object.entries(o.categories).map(([c, n]) => el("tr", { "data-category": c }, td(c, "category"), num(n, "findings"))));
  const classes = table("Namespaces by classification", [th("Classification"), th("Namespaces", "num")],
    ["Healthy", "Stable", "Degraded", "Critical"].map((c) => el("tr", {}, td(pill(c), "classification"), num(o.classifications[c] || 0, "namespaces"))));
  const watches = Object.entries(o.controller.watches).map(([w, s]) => el("li", {}, el("strong", { text: w + ": " }), el("span", { "data-watch": w, text: s })));
  const leader = o.controller.leader === null ? "no election" : o.controller.leader ? "this replica leads" : "standby";
  const top = table("Most failed checks", [th("Check"), th("Workloads failing", "num")],
    o.topChecks.map((c) => el("tr", { "data-top-check": c.check },
      td(el("a", { href: link("checks", "", new URLSearchParams({ q: c.check })), text: c.check }), "check"),
      num(c.workloads, "workloads"))));
  return [
    el("h2", { text: "Overview" }),
    el("div", { class: "cards" },
      el("div", { class: "card score " + (o.classification || "").toLowerCase() },
        el("p", { class: "label", text: "Cluster score" }),
        el("p", { class: "big", "data-metric": "cluster-score", text: fmtScore(o.cluster) }),
        el("p", { "data-metric": "cluster-status", text: o.classification || "no pods scored" })),
      card("Pods scored", o.pods, "pods"),
      card("Namespaces", o.namespaces, "namespaces"),
      card("Workloads", o.workloads, "workloads"),
      card("Findings", o.findings, "findings"),
      card("Exempt", o.exempt, "exempted")),
    el("h3", { text: "Findings by severity" }), sev,
    el("h3", { text: "Cluster score trend" }), trendChart(o.trend),
    el("div", { class: "grid2" },
      el("section", { "aria-label": "Categories" }, el("h3", { text: "By category" }), categories),
      el("section", { "aria-label": "Classifications" }, el("h3", { text: "Namespaces by classification" }), classes)),
    el("h3", { text: "Most failed checks" }), o.topChecks.length ? top : el("p", { class: "empty", text: "No check fails." }),
    el("h3", { text: "Controller" }),
    el("ul", { class: "plain" },
      el("li", {}, el("strong", { text: "Leader: " }), el("span", { "data-metric": "leader", text: leader })),
      el("li", {}, el("strong", { text: "Ready: " }), el("span", { "data-metric": "ready", text: o.controller.ready ? "yes" : "no" })),
      watches),
  ];
}

const SORTS = [["name", "Namespace"], ["score", "Score"], ["pods", "Pods"], [null, "Workloads"], ["findings", "Findings"], [null, "Exempt"]];
function renderNamespaces(d, r) {
  const sort = r.params.get("sort") || "name", order = r.params.get("order") || "asc";
  const heads = SORTS.map(([key, label], i) => {
    const cls = i === 0 ? null : "num";
    if (!key) return th(label, cls);
    const next = key === sort && order === "asc" ? "desc" : "asc";
    const p = new URLSearchParams(r.params); p.set("sort", key); p.set("order", next);
    const h = el("th", { scope: "col", class: cls, "aria-sort": key === sort ? (order === "asc" ? "ascending" : "descending") : null },
      el("button", { type: "button", class: "sort", "data-sort": key, text: label }));
    h.querySelector("button").addEventListener("click", () => { location.hash = link("namespaces", "", p); });
    return h;
  });
  heads.splice(2, 0, th("Classification"));
  const detail = filterParams(r.params); detail.delete("namespace");
  const rows = d.namespaces.map((n) => el("tr", { "data-namespace-row": n.name },
    td(el("a", { href: link("namespace", n.name, detail), text: n.name }), "name"),
    num(fmtScore(n.score), "score"), td(pill(n.classification), "classification"),
    num(n.pods, "pods"), num(n.workloads, "workloads"), num(n.findings, "findings"), num(n.exempt, "exempt")));
  return [
    el("h2", { text: "Namespaces" }),
    el("p", { class: "meta", "data-metric": "namespace-count", text: d.namespaces.length + " of " + d.total + " namespaces" }),
    rows.length ? table("Namespaces", heads, rows, { id: "namespaces" }) : el("p", { class: "empty", text: "No namespace matches the filters." }),
  ];
}

function exemptText(e) {
  let t = "Exempt" + (e.reason ? ": " + e.reason : "");
  if (e.expires) t += " (until " + e.expires + ")";
  return t;
}
function renderNamespace(d) {
  const s = d.summary;
  const workloads = d.workloads.map((w) => {
    const rows = w.items.map((f) => el("tr", { class: f.exempt ? "exempt" : null, "data-exempt-row": f.exempt ? "" : null, "data-check": f.check },
      td(f.container || "(pod)", "container"), td(el("code", { text: f.check }), "check"),
      td(sevBadge(f.severity), "severity"),
      td([f.message, f.pods > 1 ? el("span", { class: "meta", text: " (" + f.pods + " pods)" }) : null], "message"),
      td(f.exempt ? el("span", { class: "badge exempt-tag", text: exemptText(f.exempt) }) : f.fix, "fix")));
    const tally = w.findings + " finding" + (w.findings === 1 ? "" : "s") + (w.exempt ? ", " + w.exempt + " exempt" : "");
    return el("details", { class: "workload" + (w.findings ? " failing" : ""), "data-workload": w.kind + "/" + w.name, "data-counted": w.findings, "data-exempt": w.exempt, open: w.findings > 0 },
      el("summary", {}, el("strong", { text: w.name }), " ", el("span", { class: "kind", text: w.kind + " · " + w.pods + " pod" + (w.pods === 1 ? "" : "s") }), " ",
        el("span", { class: "tally" + (w.findings ? " failing" : ""), text: tally })),
      w.items.length ? table("Findings of " + w.name, [th("Container"), th("Check"), th("Severity"), th("Message"), th("Fix")], rows) : el("p", { class: "empty", text: "No findings." }));
  });
  return [
    el("h2", {}, "Namespace ", el("span", { "data-metric": "namespace-name", text: s.name })),
    el("div", { class: "cards" },
      el("div", { class: "card score " + (s.classification || "").toLowerCase() },
        el("p", { class: "label", text: "Score" }),
        el("p", { class: "big", "data-metric": "namespace-score", text: fmtScore(s.score) }),
        el("p", {}, pill(s.classification))),
      card("Pods", s.pods, "pods"), card("Workloads", s.workloads, "workloads"),
      card("Findings", s.findings, "findings"), card("Exempt", s.exempt, "exempted")),
    el("h3", { text: "Workloads" }),
    workloads.length ? workloads : el("p", { class: "empty", text: "No workload matches the filters." }),
  ];
}

function renderChecks(d, r) {
  const params = filterParams(r.params);
  const rows = d.checks.map((c) => {
    const list = c.workloads.map((w) => {
      const p = new URLSearchParams(params); p.delete("namespace"); p.set("q", w.name);
      return el("li", {}, el("a", { href: link("namespace", w.namespace, p), text: w.namespace + "/" + w.name }),
        " ", el("span", { class: "kind", text: w.kind }), " ", w.exempt ? el("span", { class: "badge exempt-tag", text: "exempt" }) : sevBadge(w.severity));
    });
    const shown = c.failing + c.exempt;
    return el("tr", { "data-check-row": c.check },
      td([el("code", { text: c.check }), el("br"), el("span", { class: "meta", text: c.title })], "check"),
      td(c.category, "category"), num(c.failing, "failing"), num(c.exempt, "exempt"),
      td(list.length ? [el("ul", { class: "plain" }, list), shown > list.length ? el("p", { class: "meta", text: "and " + (shown - list.length) + " more" }) : null] : el("span", { class: "empty", text: "none" }), "workloads"));
  });
  return [
    el("h2", { text: "Checks" }),
    rows.length ? table("Checks and the workloads failing them", [th("Check"), th("Category"), th("Failing", "num"), th("Exempt", "num"), th("Workloads")], rows, { id: "checks" })
      : el("p", { class: "empty", text: "No check matches the filters." }),
  ];
}

function renderPolicies(d) {
  const rows = d.policies.map((p) => {
    const s = p.status || {};
    const ready = (s.conditions || []).find((c) => c.type === "Ready");
    const state = p.error ? "invalid: " + p.error : p.deleting ? "deleting" : ready ? (ready.status === "True" ? "Ready" : "Not ready: " + (ready.message || ready.reason || "")) : "not reconciled yet";
    return el("tr", { "data-policy-row": p.namespace + "/" + p.name },
      td(el("a", { href: link("namespace", p.namespace), text: p.namespace }), "namespace"), td(p.name, "name"),
      td(p.mode, "mode"), td(state, "status"), num(fmtScore(s.healthScore), "score"),
      num(s.violations === undefined ? "–" : s.violations, "violations"), td(s.lastEvaluated || "–", "last-evaluated"),
      num(s.remediationsApplied || 0, "remediations"), num(s.remediationsFailed || 0, "remediations-failed"),
      num(p.exemptFindings, "skipped"));
  });
  const modes = Object.entries(d.modes || {}).map(([m, n]) => m + ": " + n).join(", ");
  return [
    el("h2", { text: "Policies" }),
    el("p", { class: "meta", text: d.policies.length + " DevOpsPolicies" + (modes ? " (" + modes + ")" : "") }),
    rows.length ? table("DevOpsPolicies", [th("Namespace"), th("Name"), th("Mode"), th("Status"), th("Score", "num"), th("Violations", "num"), th("Last audit"), th("Remediations", "num"), th("Failed", "num"), th("Skipped (exempt)", "num")], rows, { id: "policies" })
      : el("p", { class: "empty", text: "No DevOpsPolicy is known to this controller." }),
  ];
}

// ---- the page ------------------------------------------------------------------------
let rendering = 0;
async function render() {
  const r = route();
  const ticket = ++rendering;
  syncControls(r);
  const f = filterParams(r.params);
  let path, draw;
  switch (r.view) {
    case "namespaces":
      for (const k of ["sort", "order"]) if (r.params.get(k)) f.set(k, r.params.get(k));
      path = "api/v1/namespaces"; draw = renderNamespaces; break;
    case "namespace":
      f.delete("namespace");
      path = "api/v1/namespaces/" + encodeURIComponent(r.arg); draw = renderNamespace; break;
    case "checks": path = "api/v1/checks"; draw = renderChecks; break;
    case "policies": path = "api/v1/policies"; draw = renderPolicies; break;
    default: path = "api/v1/overview"; draw = renderOverview;
  }
  const qs = f.toString();
  try {
    const data = await getJson(path + (qs ? "?" + qs : ""));
    if (ticket !== rendering) return;
    main.replaceChildren(...draw(data, r).flat());
    main.dataset.view = r.view;
    main.dataset.generated = data.generatedAt || "";
    document.title = "kube-devops · " + r.view + (r.arg ? " " + r.arg : "");
  } catch (e) {
    if (ticket !== rendering) return;
    main.replaceChildren(el("h2", { text: "Cannot show this view" }), el("p", { role: "alert", text: String(e.message || e) }));
    main.dataset.view = "error";
  }
}

function syncControls(r) {
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    const on = a.dataset.view === r.view || (r.view === "namespace" && a.dataset.view === "namespaces");
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const q = document.getElementById("f-q");
  if (document.activeElement !== q) q.value = r.params.get("q") || "";
  const ns = document.getElementById("f-namespace");
  const want = r.view === "namespace" ? r.arg : r.params.get("namespace") || "";
  if (want && ![...ns.options].some((o) => o.value === want)) ns.append(el("option", { value: want, text: want }));
  ns.value = want;
  document.getElementById("f-severity").value = r.params.get("severity") || "";
  document.getElementById("f-failing").checked = ["1", "true"].includes(r.params.get("failing"));
}

function applyFilters() {
  const r = route();
  const p = new URLSearchParams(r.params);
  const set = (k, v) => (v ? p.set(k, v) : p.delete(k));
  set("q", document.getElementById("f-q").value.trim());
  set("severity", document.getElementById("f-severity").value);
  set("failing", document.getElementById("f-failing").checked ? "1" : "");
  const ns = document.getElementById("f-namespace").value;
  let view = r.view, arg = r.arg;
  if (view === "namespace") {
    if (ns) arg = ns; else { view = "namespaces"; arg = ""; }
  } else set("namespace", ns);
  location.hash = link(view, arg, p);
}

// The namespace choices are fetched when the control is first used (and kept current after
// that), so a page load costs only its own view.
let optionsLoaded = false;
async function loadNamespaceOptions() {
  optionsLoaded = true;
  try {
    const d = await getJson("api/v1/namespaces");
    const sel = document.getElementById("f-namespace");
    const keep = sel.value;
    sel.replaceChildren(el("option", { value: "", text: "All namespaces" }), ...d.namespaces.map((n) => el("option", { value: n.name, text: n.name })));
    sel.value = keep;
  } catch (e) { /* the view shows the error */ }
}

// ---- live updates --------------------------------------------------------------------
let lastOptions = 0;
function changed() {
  render();
  if (optionsLoaded && Date.now() - lastOptions > 10000) { lastOptions = Date.now(); loadNamespaceOptions(); }
}
function onEvent(name) {
  if (name === "hello") { live.textContent = "live"; live.dataset.state = "live"; }
  if (name === "change") { live.textContent = "live · updated " + new Date().toLocaleTimeString(); live.dataset.state = "live"; changed(); }
}
function connect() {
  if (opsToken()) return connectWithToken();
  if (!window.EventSource) return poll("live updates unsupported; refreshing every 10 s");
  const es = new EventSource("api/v1/events");
  es.addEventListener("hello", () => onEvent("hello"));
  es.addEventListener("change", () => onEvent("change"));
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      // A 401 closes the stream: with a token (asked for by the first data request) the
      // stream is read by fetch, which can send it.
      if (opsToken()) connectWithToken(); else poll("live updates unavailable; refreshing every 10 s");
    } else { live.textContent = "reconnecting…"; live.dataset.state = "reconnecting"; }
  };
}
// EventSource cannot send a header: read the same stream with fetch.
async function connectWithToken() {
  try {
    const res = await fetch("api/v1/events", { headers: authHeaders({ Accept: "text/event-stream" }), cache: "no-store" });
    if (!res.ok || !res.body) return poll("live updates unavailable; refreshing every 10 s");
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        const line = block.split("\n").find((l) => l.startsWith("event:"));
        if (line) onEvent(line.slice(6).trim());
      }
    }
    live.textContent = "reconnecting…"; live.dataset.state = "reconnecting";
    setTimeout(connectWithToken, 3000);
  } catch (e) {
    poll("live updates unavailable; refreshing every 10 s");
  }
}
function poll(why) {
  live.textContent = why; live.dataset.state = "polling";
  setInterval(changed, 10000);
}

// ---- theme -----------------------------------------------------------------------------
const THEMES = ["system", "light", "dark"];
function applyTheme(t) {
  if (t === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", t);
  document.getElementById("theme").textContent = "Theme: " + t;
}
function initTheme() {
  let t = "system";
  try { t = localStorage.getItem("kube-devops-theme") || "system"; } catch (e) { /* storage may be off */ }
  if (!THEMES.includes(t)) t = "system";
  applyTheme(t);
  document.getElementById("theme").addEventListener("click", () => {
    const cur = document.documentElement.getAttribute("data-theme") || "system";
    const next = THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length];
    applyTheme(next);
    try { localStorage.setItem("kube-devops-theme", next); } catch (e) { /* not kept */ }
  });
}

// ---- start -----------------------------------------------------------------------------
initTheme();
let typing;
document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); applyFilters(); });
document.getElementById("f-q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyFilters, 300); });
for (const id of ["f-namespace", "f-severity", "f-failing"]) document.getElementById(id).addEventListener("change", applyFilters);
window.addEventListener("hashchange", render);
for (const ev of ["focus", "pointerdown"]) {
  document.getElementById("f-namespace").addEventListener(ev, () => { if (!optionsLoaded) loadNamespaceOptions().then(() => syncControls(route())); });
}
render();
connect();
