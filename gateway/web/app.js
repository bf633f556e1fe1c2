// Segmento Pulse web page: vanilla ES2020, no build step. Every piece of data from the
// article or the gateway is inserted with textContent or DOM nodes, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const config = { max_text_bytes: null, api_key_required: false };
const utf8 = new TextEncoder();
const WORDS = {
  unauthorized: "The API key is missing or wrong.",
  text_too_large: "The text is larger than this gateway accepts.",
  rate_limited: "Too many submissions from here; wait a moment and try again.",
  queue_full: "The queue is full; try again shortly.",
};
let job = null; // {id, token, source, text, lastId, highlights, claims, ...}
let retryAction = null;

function show(el, on = true) { el.hidden = !on; }
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function bytes(s) { return utf8.encode(s).length; }
function withToken(path) {
  const url = new URL(path, location.href);
  if (job && job.token && !url.searchParams.has("token")) url.searchParams.set("token", job.token);
  return url.toString();
}

function offline(message, action) {
  $("offline-text").textContent = message;
  retryAction = action;
  show($("offline"));
  $("retry").focus();
}

async function loadConfig() {
  try {
    const r = await fetch("/web/config.json", { cache: "no-store" });
    if (!r.ok) throw new Error(String(r.status));
    Object.assign(config, await r.json());
    show($("offline"), false);
  } catch (e) {
    offline("The gateway cannot be reached. Check that it is running, then try again.", loadConfig);
    return;
  }
  show($("key-field"), config.api_key_required);
  const saved = sessionStorage.getItem("pulse-api-key");
  if (saved) $("api-key").value = saved;
  updateSize();
}

function updateSize() {
  const n = bytes($("text").value);
  const limit = config.max_text_bytes;
  const size = $("text-size");
  if (!limit) { size.textContent = ""; return; }
  size.textContent = `${n.toLocaleString("en")} of at most ${limit.toLocaleString("en")} bytes.`;
  size.classList.toggle("over", n > limit);
  if (n > limit) size.textContent += " Too long: shorten the text before reading it.";
}

function formError(message) {
  const p = $("form-error");
  p.textContent = message;
  show(p, Boolean(message));
}

function plainError(status, body) {
  const code = body && typeof body.error === "string" ? body.error : "";
  const detail = body && typeof body.detail === "string" ? body.detail : "";
  let words = WORDS[code] || "";
  if (status === 429 && !words) words = "The gateway is busy; try again shortly.";
  if (status === 503 && !words) words = "The gateway cannot serve this right now; try again shortly.";
  if (!words && !detail) words = `The gateway answered ${status}.`;
  const parts = [words, detail ? `Reason: ${detail}` : "", code ? `(${code})` : ""];
  return parts.filter(Boolean).join(" ");
}

async function submit(event) {
  if (event) event.preventDefault();
  formError("");
  show($("offline"), false);
  const url = $("url").value.trim();
  const text = $("text").value;
  const tasks = [...document.querySelectorAll("input[name=task]:checked")].map((c) => c.value);
  if (!url && !text.trim()) return formError("Paste an article's URL or its text first.");
  if (url && text.trim()) return formError("Give either a URL or a text, not both.");
  if (!tasks.length) return formError("Choose at least one task.");
  if (text && config.max_text_bytes && bytes(text) > config.max_text_bytes) {
    return formError(`The text is ${bytes(text).toLocaleString("en")} bytes; this gateway accepts at most ${config.max_text_bytes.toLocaleString("en")}.`);
  }
  const key = $("api-key").value.trim();
  if (key) sessionStorage.setItem("pulse-api-key", key);
  const headers = { "Content-Type": "application/json" };
  if (key) headers["X-API-Key"] = key;
  const body = { style: $("style").value, tasks, ...(url ? { url } : { text }) };
  $("go").disabled = true;
  let r;
  try {
    r = await fetch("/queue", { method: "POST", headers, body: JSON.stringify(body) });
  } catch (e) {
    $("go").disabled = false;
    offline("The gateway cannot be reached, so nothing was submitted. Check your connection, then try again.", () => submit());
    return;
  }
  $("go").disabled = false;
  let answer = null;
  try { answer = await r.json(); } catch (e) { answer = null; }
  if (!r.ok || !answer || !answer.stream_url) return formError(plainError(r.status, answer));
  start(answer, url ? null : text);
}

function resetJob() {
  if (job && job.source) job.source.close();
  for (const id of ["highlights", "summary", "unsupported-summary", "key-points", "entities", "article", "outcomes", "meta", "connection"]) clear($(id));
  for (const id of ["highlights-box", "summary-box", "entities-box", "audio-box", "article-box", "job-error", "key-points-heading", "key-points-hint"]) show($(id), false);
  $("title").textContent = "Summary";
  $("audio").removeAttribute("src");
  delete $("summary").dataset.corrected;
  $("progress").value = 0;
}

function start(answer, text) {
  resetJob();
  job = { id: answer.job_id, token: answer.read_token || new URL(answer.stream_url, location.href).searchParams.get("token"),
    text, lastId: -1, highlights: [], claims: [], selected: null, audio: null, streamUrl: answer.stream_url };
  show($("job"));
  $("stage").textContent = answer.cached ? "Already read earlier: showing the stored result." : "Queued.";
  if (text !== null) {
    show($("article-box"));
    $("article-note").textContent = "Your text, with the highlights marked.";
    renderArticle();
  }
  listen();
  $("job-heading").scrollIntoView({ block: "start" });
}

// Each handler runs once per event id: after a reconnect the gateway resumes after
// Last-Event-ID, and this guard keeps the page right even if an event came twice.
function on(source, type, handle) {
  source.addEventListener(type, (e) => {
    const id = e.lastEventId === "" ? null : Number(e.lastEventId);
    if (id !== null && id <= job.lastId) return;
    if (id !== null) job.lastId = id;
    let data = null;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    handle(data);
  });
}

function listen() {
  const source = new EventSource(withToken(job.streamUrl));
  job.source = source;
  source.addEventListener("open", () => { $("connection").textContent = ""; });
  on(source, "status", (d) => {
    $("stage").textContent = `Stage: ${d.stage}`;
    if (typeof d.progress === "number") $("progress").value = d.progress;
  });
  on(source, "highlights", showHighlights);
  on(source, "token", (d) => {
    show($("summary-box"));
    $("summary").appendChild(document.createTextNode(d.text));
  });
  on(source, "summary", showSummary);
  on(source, "provenance", (d) => { job.claims = d.claims || []; showClaims(); });
  on(source, "entities", (d) => showEntities(d.entities || []));
  on(source, "audio", (d) => { job.audio = d.url; });
  on(source, "done", (d) => { source.close(); finished(d); });
  source.addEventListener("error", (e) => {
    if (e.data) { // the server's own error event: the job failed
      let d = {};
      try { d = JSON.parse(e.data); } catch (err) { d = {}; }
      source.close();
      failed(d);
    } else if (source.readyState === EventSource.CLOSED) {
      offline("The connection to the gateway was lost and the browser gave up.", () => listen());
    } else {
      $("connection").textContent = "Connection lost; reconnecting…";
    }
  });
}

function showHighlights(d) {
  job.highlights = d.highlights || [];
  show($("highlights-box"));
  const list = $("highlights");
  clear(list);
  if (!job.highlights.length) list.appendChild(el("li", d.error ? `No highlights: ${d.error}` : "No highlights."));
  for (const h of job.highlights) list.appendChild(el("li", h.text));
  if (job.text === null && job.highlights.length) {
    list.appendChild(el("li", "The gateway scraped this article and does not send its text to the page, so its key sentences are listed here instead of marked in it.", "hint"));
  }
  renderArticle();
}

function showSummary(s) {
  show($("summary-box"));
  $("title").textContent = s.title || "Summary";
  // The tokens joined equal main_summary; a replayed stored result has no tokens.
  const summary = $("summary");
  if (summary.textContent !== (s.main_summary || "")) {
    if (summary.textContent) summary.dataset.corrected = "true";
    summary.textContent = s.main_summary || "";
  }
  const meta = [s.category && `Category: ${s.category}`, s.sentiment && `Sentiment: ${s.sentiment}`,
    typeof s.read_time_min === "number" && `Reading time: ${s.read_time_min} min`].filter(Boolean);
  $("meta").textContent = meta.join(" · ");
  const list = $("key-points");
  clear(list);
  (s.key_points || []).forEach((point, index) => {
    const item = el("li");
    const button = el("button", point);
    button.type = "button";
    button.dataset.index = String(index);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", () => selectPoint(index));
    item.appendChild(button);
    list.appendChild(item);
  });
  show($("key-points-heading"), list.childElementCount > 0);
  showClaims();
}

function claimOf(kind, index) {
  return job.claims.find((c) => c.kind === kind && c.index === index);
}

function reasonWords(claim) {
  const words = { low_support: "no article sentence supports it well", unknown_number: "a number the article never states",
    unknown_name: "a name the article never mentions" };
  const extra = [...(claim.unknown_numbers || []), ...(claim.unknown_names || [])];
  const reasons = (claim.reasons || []).map((r) => words[r] || r).join("; ");
  return `Not supported by the article: ${reasons}${extra.length ? ` (${extra.join(", ")})` : ""}.`;
}

function showClaims() {
  if (!job.claims.length) return;
  const flags = $("unsupported-summary");
  clear(flags);
  for (const c of job.claims) {
    if (c.kind === "main_summary" && c.unsupported) flags.appendChild(el("li", `“${c.text}”: ${reasonWords(c)}`));
  }
  for (const button of $("key-points").querySelectorAll("button")) {
    const claim = claimOf("key_point", Number(button.dataset.index));
    const old = button.querySelector(".flag");
    if (old) old.remove();
    button.classList.toggle("unsupported", Boolean(claim && claim.unsupported));
    if (claim && claim.unsupported) button.appendChild(el("span", reasonWords(claim), "flag"));
  }
  show($("key-points-hint"), $("key-points").childElementCount > 0);
}

function selectPoint(index) {
  job.selected = job.selected === index ? null : index;
  for (const item of $("key-points").children) {
    const button = item.querySelector("button");
    const on = Number(button.dataset.index) === job.selected;
    button.setAttribute("aria-pressed", String(on));
    const old = item.querySelector(".sources");
    if (old) old.remove();
    if (!on) continue;
    const claim = claimOf("key_point", index);
    const sources = el("ul", null, "sources");
    if (!claim) sources.appendChild(el("li", "The supporting sentences are not known yet."));
    else if (!(claim.sources || []).length) sources.appendChild(el("li", "No supporting sentence."));
    else for (const s of claim.sources) sources.appendChild(el("li", `Supported by: “${s.text}” (similarity ${Number(s.similarity).toFixed(2)})`));
    item.appendChild(sources);
  }
  renderArticle();
  const first = $("article").querySelector("mark.support");
  if (first) first.scrollIntoView({ block: "nearest" });
}

// Offsets are Python string indices (code points); JS strings index UTF-16 units.
function unitIndex(text) {
  if (!/[\uD800-\uDFFF]/.test(text)) return (i) => i;
  const map = [];
  let u = 0;
  for (const ch of text) { map.push(u); u += ch.length; }
  map.push(u);
  return (i) => map[Math.min(i, map.length - 1)];
}

function range(text, at, item) {
  let start = at(item.start);
  let end = at(item.end);
  if (text.slice(start, end) !== item.text && item.text) { // offsets of a normalized text
    start = text.indexOf(item.text);
    if (start < 0) return null;
    end = start + item.text.length;
  }
  return [start, end];
}

function renderArticle() {
  if (!job || job.text === null) return;
  const text = job.text;
  const at = unitIndex(text);
  const marks = [];
  for (const h of job.highlights) { const r = range(text, at, h); if (r) marks.push([...r, "hl"]); }
  const claim = job.selected === null ? null : claimOf("key_point", job.selected);
  for (const s of (claim && claim.sources) || []) { const r = range(text, at, s); if (r) marks.push([...r, "support"]); }
  const cuts = new Set([0, text.length]);
  for (const [a, b] of marks) { cuts.add(a); cuts.add(b); }
  const points = [...cuts].sort((a, b) => a - b);
  const article = $("article");
  clear(article);
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const piece = text.slice(a, b);
    const kinds = marks.filter(([s, e]) => s <= a && e >= b).map((m) => m[2]);
    if (!kinds.length) { article.appendChild(document.createTextNode(piece)); continue; }
    const mark = el("mark", piece, kinds.includes("support") ? "support hl" : "hl");
    article.appendChild(mark);
  }
}

function showEntities(entities) {
  show($("entities-box"));
  const box = $("entities");
  clear(box);
  if (!entities.length) { box.appendChild(el("p", "No entities found.")); return; }
  const groups = new Map();
  for (const e of entities) {
    if (!groups.has(e.label)) groups.set(e.label, new Set());
    groups.get(e.label).add(e.text);
  }
  for (const [label, names] of groups) {
    const group = el("div", null, "entity-group");
    group.appendChild(el("h3", label));
    const list = el("ul");
    for (const name of names) list.appendChild(el("li", name));
    group.appendChild(list);
    box.appendChild(group);
  }
}

function finished(d) {
  $("stage").textContent = "Done.";
  $("progress").value = 1;
  $("connection").textContent = "";
  const outcomes = d && d.outcomes ? Object.entries(d.outcomes) : [];
  const trouble = outcomes.filter(([, v]) => typeof v === "string" && v !== "ok");
  $("outcomes").textContent = trouble.length ? `Not everything worked: ${trouble.map(([k, v]) => `${k}: ${v}`).join("; ")}` : "";
  const audioOk = !d || !d.outcomes || !("audio" in d.outcomes) || d.outcomes.audio === "ok";
  if (job.audio || (d && d.outcomes && "audio" in d.outcomes && audioOk)) {
    $("audio").src = withToken(job.audio || `/queue/${job.id}/audio`);
    show($("audio-box"));
  }
}

function failed(d) {
  $("stage").textContent = "Failed.";
  const p = $("job-error");
  p.textContent = `The job failed. Reason: ${d.detail || d.error || "unknown"}`;
  show(p);
}

document.addEventListener("DOMContentLoaded", () => {
  $("submit-form").addEventListener("submit", submit);
  $("text").addEventListener("input", updateSize);
  $("retry").addEventListener("click", () => { show($("offline"), false); if (retryAction) retryAction(); });
  loadConfig();
});
