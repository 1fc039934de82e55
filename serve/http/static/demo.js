// Kashif demo page: calls POST /v1/analyze, highlights entities in place, shows the text's label (with a
// text-classification model) and its stance toward the targets.
// ?text=...&targets=a|b fills the form and runs it; ?example=NAME runs one of the examples (both used by the
// headless-browser tests).
"use strict";

const KNOWN = ["PERS", "LOC", "ORG", "MISC"];
const EXTRA_COLOURS = ["#ffe08a", "#b8f2e6", "#ffc6d9", "#cde8a5", "#d6d0ff", "#f5c8a0"];
const $ = (id) => document.getElementById(id);

function colourOf(label) {
  if (KNOWN.includes(label)) return `var(--${label})`;
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return EXTRA_COLOURS[h % EXTRA_COLOURS.length];
}

// Offsets from the API count Unicode code points (Python str indices);
// JavaScript strings count UTF-16 units, so index by code points.
function renderEntities(text, entities) {
  const chars = Array.from(text);
  const out = $("output");
  out.replaceChildren();
  let pos = 0;
  const sorted = [...entities].sort((a, b) => a.start - b.start);
  for (const e of sorted) {
    if (e.start < pos) continue;
    if (e.start > pos) out.append(chars.slice(pos, e.start).join(""));
    const mark = document.createElement("mark");
    mark.className = "entity";
    mark.dataset.label = e.label;
    mark.dataset.score = e.score.toFixed(3);
    mark.dataset.tip = `${e.label} · ${e.score.toFixed(3)}`;
    mark.title = `${e.label} (${e.score.toFixed(3)})`;
    mark.style.setProperty("--ent-bg", colourOf(e.label));
    mark.textContent = chars.slice(e.start, e.end).join("");
    out.append(mark);
    pos = e.end;
  }
  if (pos < chars.length) out.append(chars.slice(pos).join(""));

  const legend = $("legend");
  legend.replaceChildren();
  const labels = [...new Set(sorted.map((e) => e.label))].sort();
  for (const label of labels) {
    const span = document.createElement("span");
    span.textContent = `${label} (${sorted.filter((e) => e.label === label).length})`;
    span.style.setProperty("--ent-bg", colourOf(label));
    legend.append(span);
  }
  if (!labels.length) legend.textContent = "لا كيانات";
}

function renderStance(stance) {
  const body = $("stance").querySelector("tbody");
  body.replaceChildren();
  for (const s of stance) {
    const row = body.insertRow();
    row.insertCell().textContent = s.target;
    row.insertCell().textContent = s.label + (s.truncated ? " (نص مقتطع)" : "");
    const scores = row.insertCell();
    scores.className = "scores";
    scores.textContent = Object.entries(s.scores).map(([k, v]) => `${k} ${v.toFixed(3)}`).join("  ");
  }
  $("stance-block").hidden = stance.length === 0;
}

function renderClassify(result) {
  const block = $("classify-block");
  block.hidden = !result;
  if (!result) return;
  $("classify-label").textContent = (result.labels ? result.labels.join("، ") : result.label)
    + (result.truncated ? " (نص مقتطع)" : "");
  $("classify-scores").textContent = Object.entries(result.scores).map(([k, v]) => `${k} ${v.toFixed(3)}`).join("  ");
}

async function analyze() {
  const text = $("text").value;
  const targets = $("targets").value.split("\n").map((t) => t.trim()).filter(Boolean);
  const headers = { "Content-Type": "application/json" };
  const key = $("key").value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  const status = $("status");
  status.className = "";
  status.textContent = "…";
  $("run").disabled = true;
  try {
    const body = { text };
    if (targets.length) body.targets = targets;
    const response = await fetch("/v1/analyze", { method: "POST", headers, body: JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error((data.error && data.error.message) || `HTTP ${response.status}`);
    }
    const entities = data.entities || [];
    renderEntities(text, entities);
    $("entities-block").hidden = !data.entities;
    renderClassify(data.classify);
    renderStance(data.stance);
    $("result").hidden = false;
    status.textContent = data.entities ? `${entities.length} كيان` : (data.classify ? data.classify.label : "");
    document.body.dataset.state = "done";
  } catch (err) {
    status.className = "error";
    status.textContent = err.message;
    document.body.dataset.state = "error";
  } finally {
    $("run").disabled = false;
  }
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  analyze();
});

// The examples above the form: a click fills the text and the targets (one per line) and runs them.
function runExample(button) {
  $("text").value = button.dataset.text;
  $("targets").value = button.dataset.targets;
  analyze();
}
const exampleButtons = [...document.querySelectorAll("button.example")];
for (const button of exampleButtons) {
  button.addEventListener("click", () => runExample(button));
}

const params = new URLSearchParams(location.search);
const example = exampleButtons.find((button) => button.dataset.example === params.get("example"));
if (example) runExample(example);
if (params.get("targets")) $("targets").value = params.get("targets").split("|").join("\n");
if (params.get("text")) {
  $("text").value = params.get("text");
  analyze();
}
