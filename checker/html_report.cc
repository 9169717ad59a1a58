#include "checker/html_report.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "checker/json_escape.h"

namespace checker {
namespace {

// The page: styles, markup and the script that draws it from the embedded data.
// Kept in this file so the report has no other assets.
constexpr std::string_view kHead = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
)HTML";

constexpr std::string_view kStyle = R"HTML(<style>
:root { --w: #2f6fb3; --r: #2e8b57; --fail: #9a9a9a; --info: #d08a1a; --bad: #d11f1f;
        --lane: #f4f6f8; --lane2: #ffffff; --text: #1d232b; --muted: #5b6572; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--text); background: #fff; }
header { padding: 12px 18px 8px; border-bottom: 1px solid #dde2e8; }
h1 { font-size: 18px; margin: 0 0 4px; }
h2 { font-size: 14px; margin: 14px 0 4px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600;
         color: #fff; font-size: 12px; vertical-align: 1px; }
.badge.linearizable { background: var(--r); }
.badge.violation { background: var(--bad); }
.badge.cannot-decide { background: var(--info); }
.violation-rule { margin: 8px 0; padding: 8px 10px; border-left: 4px solid var(--bad);
                  background: #fdf0f0; }
.violation-rule .rule { font-weight: 600; color: var(--bad); }
.violation-rule ul { margin: 4px 0 0; padding-left: 18px; }
.violation-rule li { cursor: pointer; }
.violation-rule li:hover { text-decoration: underline; }
button { font: inherit; padding: 2px 9px; border: 1px solid #b9c2cc; border-radius: 4px;
         background: #f7f9fb; cursor: pointer; }
button:hover { background: #e9eef3; }
#toolbar { position: sticky; top: 0; z-index: 5; background: #fff; padding: 6px 18px;
           border-bottom: 1px solid #dde2e8; display: flex; gap: 6px; align-items: center;
           flex-wrap: wrap; }
#toolbar .view { margin-left: 8px; font-variant-numeric: tabular-nums; }
.legend { margin-left: auto; display: flex; gap: 10px; align-items: center; }
.legend i { display: inline-block; width: 18px; height: 10px; margin-right: 3px;
            vertical-align: -1px; border-radius: 2px; }
main { padding: 0 18px 30px; }
section.token { margin-top: 10px; }
svg.timeline { display: block; width: 100%; user-select: none; cursor: grab; }
svg.timeline.dragging { cursor: grabbing; }
.lane-bg { fill: var(--lane); }
.lane-bg.alt { fill: var(--lane2); }
.lane-bg.node { fill: #eef1f6; }
.lane-label { font-size: 11px; fill: var(--muted); }
.axis line { stroke: #c9d0d8; }
.axis text { font-size: 10px; fill: var(--muted); }
.op { stroke: rgba(0,0,0,.25); stroke-width: 1; }
.op.write { fill: var(--w); }
.op.read { fill: var(--r); }
.op.fail { fill: var(--fail); }
.op.info { fill: var(--info); }
.op.pending { fill: url(#fade); }
.op.violation { stroke: var(--bad); stroke-width: 3; }
.op.flash { animation: flash 0.5s 4 alternate; }
@keyframes flash { to { opacity: 0.2; } }
.op:hover { stroke: #000; stroke-width: 2; }
.op.violation:hover { stroke: var(--bad); stroke-width: 4; }
.op-label { font-size: 10px; fill: #fff; pointer-events: none; }
.info-tail { stroke: var(--info); stroke-dasharray: 4 3; stroke-width: 1.5; opacity: .7; }
.msg { stroke: #7a8796; stroke-width: 1; fill: none; opacity: .6; }
.msg.viol { stroke: var(--bad); opacity: .9; }
.msg.lost { stroke-dasharray: 3 3; }
.msg.hot { stroke: #000; stroke-width: 2; opacity: 1; }
.fault line { stroke: var(--bad); stroke-width: 2; }
.fault text { font-size: 10px; fill: var(--bad); font-weight: 600; }
.viol-mark { fill: var(--bad); font-size: 12px; font-weight: 700; pointer-events: none; }
.note { font-size: 11px; fill: var(--muted); }
#tip { position: fixed; z-index: 10; display: none; max-width: 560px; pointer-events: none;
       background: #1d232b; color: #f2f4f6; padding: 7px 9px; border-radius: 5px;
       font-size: 12px; box-shadow: 0 2px 10px rgba(0,0,0,.25); }
#tip pre { margin: 4px 0 0; white-space: pre-wrap; word-break: break-all; font-size: 11px;
           color: #c9d4df; }
#tip b { color: #fff; }
#report-status { display: none; }
</style>
)HTML";

constexpr std::string_view kBody = R"HTML(</head>
<body>
<header id="header"></header>
<div id="toolbar">
  <button id="fit" title="show everything (0)">fit</button>
  <button id="zin" title="zoom in (+, or the mouse wheel)">+</button>
  <button id="zout" title="zoom out (-)">&minus;</button>
  <button id="left" title="earlier (left arrow, or drag)">&larr;</button>
  <button id="right" title="later (right arrow, or drag)">&rarr;</button>
  <button id="jump" title="jump to the next violation (v)">jump to violation</button>
  <label><input type="checkbox" id="showmsgs" checked> messages</label>
  <span class="view muted" id="viewtext"></span>
  <span class="legend"><span><i style="background:var(--w)"></i>write</span>
    <span><i style="background:var(--r)"></i>read</span>
    <span><i style="background:var(--info)"></i>unknown outcome</span>
    <span><i style="background:var(--fail)"></i>failed</span>
    <span><i style="background:#fff;border:2px solid var(--bad)"></i>violation</span></span>
</div>
<main id="tokens"></main>
<div id="tip"></div>
<span id="report-status">loading</span>
)HTML";

constexpr std::string_view kScript = R"HTML(<script>
"use strict";
(function () {
const D = JSON.parse(document.getElementById("report-data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
const GUTTER = 150, LANE = 22, AXIS = 22, NODEGAP = 10, MAX_MSGS = 3000, MIN_SPAN = 10;
const OUT = ["ok", "fail", "info", "pending"];
const $ = (id) => document.getElementById(id);
function el(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function html(tag, cls, text, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
const UNITS = [[1e9, " s"], [1e6, " ms"], [1e3, " \u00b5s"], [1, " ns"]];
// A time for people: `step` (the precision wanted) picks the unit and the decimals.
function fmtTime(ns, step) {
  const p = Math.abs(step === undefined ? ns : step);
  for (const [u, name] of UNITS) {
    if (p >= u / 10 || u === 1) {
      const d = Math.max(0, Math.min(3, Math.ceil(-Math.log10(Math.max(p, 1e-9) / u) + (step === undefined ? 2 : 0))));
      return (ns / u).toFixed(u === 1 ? 0 : d) + name;
    }
  }
}
function valueName(v) {
  if (v === -1) return "initial";
  if (v < 0) return "";
  const text = D.values[v];
  try { const o = JSON.parse(text); if (o && typeof o.name === "string") return o.name; } catch (e) {}
  return text.length > 24 ? text.slice(0, 23) + "\u2026" : text;
}
const END = Math.max(D.t1, 100);  // a run whose events share one instant still gets a scale
let view = [0, END];
let sections = [];
let violations = [];
let nextViolation = 0;

// ---- header and violation list ----
(function header() {
  const h = $("header");
  const h1 = html("h1", "", D.title + " ", h);
  html("span", "badge " + D.verdict.replace(" ", "-"), D.verdict, h1);
  const sub = html("div", "muted", "", h);
  sub.textContent = (D.source ? D.source + " \u00b7 " : "") + D.operations + " operations, " +
      D.tokens.length + " token" + (D.tokens.length === 1 ? "" : "s") +
      (D.simulated ? ", " + D.messageCount + " messages, " + D.faultCount + " faults (simulated run)"
                   : D.faultCount ? ", " + D.faultCount + " faults" : "") +
      "; times are from the first event" + (D.origin ? " (" + D.origin + " ns on the recorder's clock)" : "");
  for (const n of D.notes) html("div", "muted", n, h);
  if (D.droppedMessages > 0) {
    html("div", "muted", "the page keeps the first " + D.messageCount + " messages; " +
         D.droppedMessages + " more were left out", h);
  }
  D.tokens.forEach((t, ti) => {
    if (t.verdict !== "violation" && t.verdict !== "cannot decide") return;
    const box = html("div", "violation-rule", undefined, h);
    box.id = "violation-" + (violations.length + 1);
    const head = html("div", "", undefined, box);
    html("span", "rule", "token " + t.name + ": " + t.rule + ". ", head);
    html("span", "", t.explanation + " ", head);
    const b = html("button", "", "jump", head);
    const idx = violations.length;
    b.addEventListener("click", () => jumpTo(idx));
    const ops = [];
    t.ops.forEach((o, k) => { if (o[9]) ops.push(k); });
    const ul = html("ul", "", undefined, box);
    for (const k of ops) {
      const li = html("li", "", describeOp(t, k), ul);
      li.addEventListener("click", () => jumpTo(idx, k));
    }
    violations.push({ token: ti, ops: ops });
  });
  if (violations.length === 0) $("jump").disabled = true;
  if (!D.simulated) $("showmsgs").parentNode.style.display = "none";
})();

function describeOp(t, k) {
  const o = t.ops[k];
  const kind = o[1] === 0 ? "write" : "read";
  let s = "line " + (o[6] || o[5]) + ": " + kind + " by process " + o[0];
  if (o[2] === 0) {
    s += o[1] === 0 ? " of " + valueName(o[7]) : " returned " + valueName(o[7]);
    if (o[8] >= 0) s += ", version " + o[8];
  } else {
    s += " (" + OUT[o[2]] + ")";
  }
  return s + ", " + fmtTime(o[3]) + " \u2013 " + (o[4] === null ? "never completed" : fmtTime(o[4]));
}

// ---- sections ----
for (const t of D.tokens) {
  t.opMsgs = [];
  t.msgs.forEach((m, k) => { if (m[8] >= 0) (t.opMsgs[m[8]] = t.opMsgs[m[8]] || []).push(k); });
}
D.tokens.forEach((t, ti) => {
  const sec = html("section", "token", undefined, $("tokens"));
  sec.id = "token-" + ti;
  const h2 = html("h2", "", "token " + t.name + " ", sec);
  html("span", "badge " + t.verdict.replace(" ", "-"), t.verdict, h2);
  html("span", "muted", "  " + t.ops.length + " operations" +
       (t.versionChecked ? ", version order checked" : "") +
       (t.msgs.length ? ", " + t.msgs.length + " messages" : ""), h2);
  const lanes = new Map();
  t.processes.forEach((p, i) => lanes.set("c" + p, AXIS + i * LANE));
  const nodeTop = AXIS + t.processes.length * LANE + (t.nodes.length ? NODEGAP : 0);
  t.nodes.forEach((n, i) => lanes.set("n" + n, nodeTop + i * LANE));
  const height = nodeTop + t.nodes.length * LANE + 14;
  const svg = el("svg", { class: "timeline", height: height, "data-token": t.name }, sec);
  const defs = el("defs", {}, svg);
  const grad = el("linearGradient", { id: "fade" }, defs);
  el("stop", { offset: "0", "stop-color": "#8a6fb3" }, grad);
  el("stop", { offset: "1", "stop-color": "#8a6fb3", "stop-opacity": "0.05" }, grad);
  const mk = el("marker", { id: "arrow" + ti, viewBox: "0 0 6 6", refX: "6", refY: "3",
                            markerWidth: "6", markerHeight: "6", orient: "auto" }, defs);
  el("path", { d: "M0,0 L6,3 L0,6 z", fill: "#7a8796" }, mk);
  const layer = el("g", {}, svg);
  sections.push({ t: t, ti: ti, svg: svg, layer: layer, lanes: lanes, height: height, nodeTop: nodeTop,
                  drawnMsgs: [] });
  attachInteraction(sections[sections.length - 1]);
});

// The drawing width, measured once per draw: reading clientWidth after changing the DOM
// forces a layout, which made each bar cost a layout.
function measure(sec) { sec.w = Math.max(sec.svg.clientWidth || 0, 600); }
function width(sec) { return sec.w || 600; }
function xOf(sec, t) { return GUTTER + (t - view[0]) / (view[1] - view[0]) * (width(sec) - GUTTER - 8); }
function tOf(sec, x) { return view[0] + (x - GUTTER) / (width(sec) - GUTTER - 8) * (view[1] - view[0]); }
function laneY(sec, ep) { return sec.lanes.get(ep); }

function niceStep(span) {
  const raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function draw(sec) {
  measure(sec);
  const g = sec.layer, t = sec.t, w = width(sec);
  while (g.firstChild) g.removeChild(g.firstChild);
  sec.svg.setAttribute("viewBox", "0 0 " + w + " " + sec.height);
  // lanes
  let i = 0;
  for (const [key, y] of sec.lanes) {
    const node = key[0] === "n";
    el("rect", { class: "lane-bg" + (node ? " node" : (i % 2 ? " alt" : "")), x: 0, y: y, width: w, height: LANE }, g);
    const label = el("text", { class: "lane-label", x: 6, y: y + 15 }, g);
    label.textContent = node ? "node " + D.nodes[+key.slice(1)] : "process " + key.slice(1);
    ++i;
  }
  // axis
  const span = view[1] - view[0], step = niceStep(span);
  const axis = el("g", { class: "axis" }, g);
  for (let v = Math.ceil(view[0] / step) * step; v <= view[1]; v += step) {
    const x = xOf(sec, v);
    el("line", { x1: x, x2: x, y1: AXIS - 4, y2: sec.height - 14 }, axis).style.opacity = 0.5;
    const tx = el("text", { x: x + 2, y: 12 }, axis);
    tx.textContent = fmtTime(v, step);
  }
  const x0 = GUTTER, x1 = w - 8;
  const clip = (x) => Math.max(x0 - 2, Math.min(x1 + 2, x));
  // messages (under the bars)
  sec.drawnMsgs = [];
  sec.msgEl = new Map();
  if ($("showmsgs").checked && t.msgs.length) {
    const visible = [];
    for (let k = 0; k < t.msgs.length; ++k) {
      const m = t.msgs[k];
      if (m[5] >= view[0] && m[4] <= view[1]) visible.push(k);
    }
    if (visible.length > MAX_MSGS) {
      const note = el("text", { class: "note", x: GUTTER + 4, y: sec.nodeTop - 1 }, g);
      note.textContent = visible.length + " messages in view: zoom in to draw them";
    } else {
      const mg = el("g", {}, g);
      for (const k of visible) {
        const m = t.msgs[k];
        const ya = laneY(sec, (m[0] ? "n" : "c") + m[1]), yb = laneY(sec, (m[2] ? "n" : "c") + m[3]);
        if (ya === undefined || yb === undefined) continue;
        const lost = m[5] > END;
        const xa = xOf(sec, m[4]), xb = xOf(sec, Math.min(m[5], END));
        const yA = ya + LANE / 2, yB = yb + LANE / 2;
        // A node's message to itself bends above its lane.
        const d = ya === yb ? "M" + xa + "," + yA + " Q" + (xa + xb) / 2 + "," + (yA - LANE * 0.9) + " " + xb + "," + yB
                            : "M" + xa + "," + yA + " L" + xb + "," + yB;
        const viol = m[8] >= 0 && t.ops[m[8]][9];
        const line = el("path", { class: "msg" + (lost ? " lost" : "") + (viol ? " viol" : ""), d: d,
                                  "marker-end": "url(#arrow" + sec.ti + ")", "data-msg": k }, mg);
        const pts = ya === yb ? [xa, yA, (xa + xb) / 2, yA - LANE * 0.45, xb, yB] : [xa, yA, xb, yB];
        sec.drawnMsgs.push([k, pts, line]);
        sec.msgEl.set(k, line);
      }
    }
  }
  // faults
  for (const f of t.faults) {
    if (f[1] < view[0] || f[1] > view[1]) continue;
    const y = laneY(sec, "n" + f[0]);
    if (y === undefined) continue;
    const x = xOf(sec, f[1]);
    const fg = el("g", { class: "fault", "data-node": D.nodes[f[0]], "data-time": f[1],
                         "data-what": D.nodes[f[0]] + (f[2] ? " crashed (every token)" : " crashed for token " + t.name) +
                                      " at " + fmtTime(f[1]) + " (" + f[1] + " ns)" }, g);
    el("rect", { x: x - 7, y: y + 2, width: 14, height: LANE - 4, fill: "transparent" }, fg);
    el("line", { x1: x - 5, y1: y + 4, x2: x + 5, y2: y + LANE - 4 }, fg);
    el("line", { x1: x + 5, y1: y + 4, x2: x - 5, y2: y + LANE - 4 }, fg);
    const tx = el("text", { x: x + 7, y: y + 15 }, fg);
    tx.textContent = f[2] ? "node crashed" : "crashed for token " + t.name;
  }
  // operations
  let drawn = 0;
  const og = el("g", {}, g);
  for (let k = 0; k < t.ops.length; ++k) {
    const o = t.ops[k];
    const end = o[4] === null ? END : o[4];
    if (end < view[0] || o[3] > view[1]) continue;
    const y = laneY(sec, "c" + o[0]);
    const xa = clip(xOf(sec, o[3]));
    let xb = clip(xOf(sec, end));
    if (o[4] === null && o[2] === 3) xb = x1 + 2;
    const wbar = Math.max(xb - xa, 2);
    const cls = "op " + (o[1] === 0 ? "write" : "read") + (o[2] ? " " + OUT[o[2]] : "") + (o[9] ? " violation" : "");
    el("rect", { class: cls, x: xa, y: y + 3, width: wbar, height: LANE - 6, rx: 2, "data-k": k,
                 "data-token": t.name, "data-process": o[0], "data-line": o[6] || o[5],
                 "data-invoke-line": o[5] }, og);
    if (o[2] === 2 && o[1] === 0) {
      // A write of unknown outcome may take effect at any later time.
      el("line", { class: "info-tail", x1: xa + wbar, y1: y + LANE / 2, x2: x1, y2: y + LANE / 2 }, og);
    }
    if (wbar > 34) {
      let label = (o[1] === 0 ? "W " : "R ") + (o[2] === 0 || o[1] === 0 ? valueName(o[7]) : OUT[o[2]]);
      if (o[8] >= 0) label += " v" + o[8];
      const maxChars = Math.floor((wbar - 6) / 6);
      if (label.length > maxChars) label = label.slice(0, Math.max(maxChars - 1, 1)) + "\u2026";
      const tx = el("text", { class: "op-label", x: xa + 4, y: y + 15 }, og);
      tx.textContent = label;
    }
    if (o[9]) {
      const mark = el("text", { class: "viol-mark", x: xa - 1, y: y + 3 }, og);
      mark.textContent = "!";
    }
    ++drawn;
  }
  sec.svg.setAttribute("data-ops-drawn", drawn);
}

let pending = false;
function redraw() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; drawAll(); });
}
function drawAll() {
  for (const s of sections) draw(s);
  $("viewtext").textContent = "view " + fmtTime(view[0], view[1] - view[0]) + " \u2013 " +
      fmtTime(view[1], view[1] - view[0]) + " of " + fmtTime(END);
}
function setView(a, b) {
  let s = Math.max(b - a, MIN_SPAN);
  const full = END * 1.05 + MIN_SPAN;
  if (s > full) s = full;
  a = Math.min(Math.max(a, -END * 0.025), END * 1.025 + MIN_SPAN - s);
  view = [a, a + s];
  redraw();
}
function zoom(f, at) {
  const c = at === undefined ? (view[0] + view[1]) / 2 : at;
  setView(c - (c - view[0]) * f, c + (view[1] - c) * f);
}
function pan(frac) { const s = view[1] - view[0]; setView(view[0] + s * frac, view[1] + s * frac); }

function jumpTo(idx, only) {
  const v = violations[idx];
  if (!v) return;
  nextViolation = (idx + 1) % violations.length;
  const t = D.tokens[v.token];
  const ks = only === undefined ? v.ops : [only];
  let a = Infinity, b = -Infinity;
  for (const k of ks) {
    const o = t.ops[k];
    a = Math.min(a, o[3]);
    b = Math.max(b, o[4] === null ? o[3] : o[4]);
  }
  const pad = Math.max((b - a) * 0.3, MIN_SPAN);
  setView(a - pad, b + pad);
  const sec = sections[v.token];
  sec.svg.scrollIntoView({ block: "center" });
  requestAnimationFrame(() => requestAnimationFrame(() => {
    for (const k of ks) {
      const r = sec.layer.querySelector('rect[data-k="' + k + '"]');
      if (r) { r.classList.remove("flash"); void r.getBBox(); r.classList.add("flash"); }
    }
  }));
}

// ---- interaction ----
function showTip(ev, text, pre) {
  const tip = $("tip");
  tip.innerHTML = "";
  const lines = text.split("\n");
  lines.forEach((l, i) => { if (i === 0) html("b", "", l, tip); else html("div", "", l, tip); });
  if (pre) html("pre", "", pre, tip);
  tip.style.display = "block";
  const r = tip.getBoundingClientRect();
  let x = ev.clientX + 14, y = ev.clientY + 14;
  if (x + r.width > window.innerWidth - 4) x = ev.clientX - r.width - 14;
  if (y + r.height > window.innerHeight - 4) y = ev.clientY - r.height - 14;
  tip.style.left = Math.max(x, 4) + "px";
  tip.style.top = Math.max(y, 4) + "px";
}
function hideTip() { $("tip").style.display = "none"; }
function opTip(t, k, messages) {
  const o = t.ops[k];
  let s = (o[1] === 0 ? "write" : "read") + " by process " + o[0] + " on token " + t.name + ": " + OUT[o[2]];
  s += "\ninvoked " + fmtTime(o[3]) + " (" + o[3] + " ns, line " + o[5] + ")";
  if (o[4] !== null) s += "\n" + (o[2] === 2 ? "unknown outcome recorded " : "completed ") + fmtTime(o[4]) + " (" + o[4] + " ns" + (o[6] ? ", line " + o[6] : "") + "), took " + fmtTime(o[4] - o[3]);
  else s += "\nnever completed";
  if (o[8] >= 0) s += "\nversion " + o[8];
  if (o[7] !== -2) s += "\nvalue " + (o[7] === -1 ? "null (the initial value)" : D.values[o[7]]);
  if (messages) s += "\n" + messages + " messages (highlighted)";
  if (o[9]) s += "\npart of the violation: " + t.rule;
  const raw = t.raw ? t.raw[k].filter((x) => x).join("\n") : "";
  return [s, raw];
}
function msgTip(t, k) {
  const m = t.msgs[k];
  const ep = (isNode, id) => isNode ? "node " + D.nodes[id] : "process " + id;
  let s = D.labels[m[6]] + ": " + ep(m[0], m[1]) + " \u2192 " + ep(m[2], m[3]);
  s += "\nsent " + fmtTime(m[4]) + ", " + (m[5] > END ? "not delivered before the run ended" : "arrives " + fmtTime(m[5]) + " (" + fmtTime(m[5] - m[4]) + " in flight)");
  if (m[7] >= 0) s += "\ncarries version " + m[7];
  if (m[8] >= 0) s += "\nfor: " + describeOp(t, m[8]);
  return s;
}
function nearestMsg(sec, x, y) {
  let best = null, bd = 25;
  for (const d of sec.drawnMsgs) {
    const p = d[1];
    for (let i = 0; i + 3 < p.length; i += 2) {
      const xa = p[i], ya = p[i + 1], xb = p[i + 2], yb = p[i + 3];
      const dx = xb - xa, dy = yb - ya, len = dx * dx + dy * dy;
      let u = len ? ((x - xa) * dx + (y - ya) * dy) / len : 0;
      u = Math.max(0, Math.min(1, u));
      const ex = xa + u * dx - x, ey = ya + u * dy - y, dist = ex * ex + ey * ey;
      if (dist < bd) { bd = dist; best = d; }
    }
  }
  return best;
}
let hot = [];
function clearHot() { for (const e of hot) e.classList.remove("hot"); hot = []; }
function attachInteraction(sec) {
  const svg = sec.svg;
  let drag = null;
  const local = (ev) => {
    const r = svg.getBoundingClientRect();
    return [(ev.clientX - r.left) * (width(sec) / r.width), ev.clientY - r.top];
  };
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [x] = local(ev);
    if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
      pan((ev.deltaX || ev.deltaY) / 600);
    } else {
      zoom(Math.exp(ev.deltaY * 0.002), x > GUTTER ? tOf(sec, x) : undefined);
    }
  }, { passive: false });
  svg.addEventListener("mousedown", (ev) => {
    drag = { x: ev.clientX, view: view.slice() };
    svg.classList.add("dragging");
  });
  window.addEventListener("mouseup", () => { drag = null; svg.classList.remove("dragging"); });
  svg.addEventListener("mousemove", (ev) => {
    if (drag) {
      const r = svg.getBoundingClientRect();
      const dt = (ev.clientX - drag.x) / (r.width - GUTTER) * (drag.view[1] - drag.view[0]);
      setView(drag.view[0] - dt, drag.view[1] - dt);
      hideTip();
      return;
    }
    clearHot();
    const target = ev.target;
    if (target.dataset && target.dataset.k !== undefined) {
      const k = +target.dataset.k;
      for (const mk of sec.t.opMsgs[k] || []) {
        const e = sec.msgEl.get(mk);
        if (e) { e.classList.add("hot"); hot.push(e); }
      }
      const [s, raw] = opTip(sec.t, k, (sec.t.opMsgs[k] || []).length);
      showTip(ev, s, raw);
      return;
    }
    const fault = target.closest ? target.closest("g.fault") : null;
    if (fault) {
      showTip(ev, fault.dataset.what);
      return;
    }
    const [x, y] = local(ev);
    const m = nearestMsg(sec, x, y);
    if (m) {
      hot.push(m[2]);
      m[2].classList.add("hot");
      showTip(ev, msgTip(sec.t, m[0]));
      return;
    }
    hideTip();
  });
  svg.addEventListener("mouseleave", () => { hideTip(); clearHot(); });
}
$("fit").addEventListener("click", () => setView(0, END));
$("zin").addEventListener("click", () => zoom(0.5));
$("zout").addEventListener("click", () => zoom(2));
$("left").addEventListener("click", () => pan(-0.25));
$("right").addEventListener("click", () => pan(0.25));
$("jump").addEventListener("click", () => jumpTo(nextViolation));
$("showmsgs").addEventListener("change", redraw);
window.addEventListener("resize", redraw);
window.addEventListener("keydown", (ev) => {
  if (ev.target.tagName === "INPUT") return;
  if (ev.key === "+" || ev.key === "=") zoom(0.5);
  else if (ev.key === "-") zoom(2);
  else if (ev.key === "0") setView(0, END);
  else if (ev.key === "ArrowLeft") pan(-0.25);
  else if (ev.key === "ArrowRight") pan(0.25);
  else if (ev.key === "v") jumpTo(nextViolation);
});

const t0 = performance.now();
drawAll();
const firstDrawMs = performance.now() - t0;
const m = /^#violation-(\d+)$/.exec(location.hash);
if (m) {
  jumpTo(+m[1] - 1);
  drawAll();  // now, not at the next frame: the page opens on the violation
}
const status = $("report-status");
// #selftest: drive the page's own handlers with synthetic events (for tests in a headless
// browser, where there is no pointer) and record what they did.
if (location.hash === "#selftest" && sections.length) {
  const res = {};
  const sec = sections[0], svg = sec.svg;
  const r = svg.querySelector("rect.op.violation") || svg.querySelector("rect.op");
  if (r) {
    const b = r.getBoundingClientRect();
    r.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: b.left + 1, clientY: b.top + 1 }));
    res.tip = $("tip").style.display === "block" ? $("tip").textContent : "";
  }
  const sb = svg.getBoundingClientRect();
  let before = view.slice();
  svg.dispatchEvent(new WheelEvent("wheel", { bubbles: true, cancelable: true, deltaY: -600,
                                              clientX: sb.left + (sb.width + GUTTER) / 2, clientY: sb.top + 30 }));
  res.zoomedIn = view[1] - view[0] < (before[1] - before[0]) * 0.5;
  before = view.slice();
  svg.dispatchEvent(new MouseEvent("mousedown", { bubbles: true, clientX: sb.left + 600, clientY: sb.top + 30 }));
  svg.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: sb.left + 400, clientY: sb.top + 30 }));
  window.dispatchEvent(new MouseEvent("mouseup", { bubbles: true }));
  res.draggedLater = view[0] > before[0] && Math.abs((view[1] - view[0]) - (before[1] - before[0])) < 1e-6 * END;
  window.dispatchEvent(new KeyboardEvent("keydown", { key: "0" }));
  res.fitAgain = view[0] === 0 && view[1] === END;
  if (violations.length) {
    window.dispatchEvent(new KeyboardEvent("keydown", { key: "v" }));
    drawAll();
    res.violationInView = sections[violations[0].token].layer.querySelectorAll("rect.op.violation").length;
  }
  drawAll();
  status.dataset.selftest = JSON.stringify(res);
}
status.textContent = "ready";
status.dataset.violations = violations.length;
status.dataset.firstDrawMs = firstDrawMs.toFixed(1);
})();
</script>
</body>
</html>
)HTML";

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The lines of `text`, 1-based: lines[1] is the first line (lines[0] is empty).
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines{std::string_view{}};
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string Truncated(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

// Times are written relative to the first event: JavaScript numbers are exact only up to
// 2^53, and recorders may use large clocks.
struct Clock {
  std::int64_t origin = 0;
  std::int64_t Rel(std::int64_t t) const { return t - origin; }
};

void AppendOps(std::string& out, const TokenHistory& th, const std::set<std::uint64_t>& violating,
               const Clock& clock) {
  out += "\"ops\":[";
  bool first = true;
  for (const Operation& op : th.ops) {
    if (!first) out += ',';
    first = false;
    int outcome = 0;
    std::string end = "null";
    switch (op.outcome) {
      case Outcome::kOk:
        outcome = 0;
        end = fmt::format("{}", clock.Rel(op.complete_time));
        break;
      case Outcome::kFail:
        outcome = 1;
        end = fmt::format("{}", clock.Rel(op.complete_time));
        break;
      case Outcome::kInfo:
        if (op.complete_line != 0) {
          outcome = 2;
          end = fmt::format("{}", clock.Rel(op.info_time));
        } else {
          outcome = 3;
        }
        break;
    }
    const bool bad = violating.count(op.invoke_line) > 0 ||
                     (op.complete_line != 0 && violating.count(op.complete_line) > 0);
    const std::int64_t version = op.has_version ? static_cast<std::int64_t>(op.version) : -1;
    out += fmt::format("[{},{},{},{},{},{},{},{},{},{}]", op.process,
                       op.type == OpType::kWrite ? 0 : 1, outcome, clock.Rel(op.invoke_time), end,
                       op.invoke_line, op.complete_line, op.value, version, bad ? 1 : 0);
  }
  out += ']';
}

}  // namespace

std::string RenderHtmlReport(const History& history, const Report& report,
                             const HtmlExtras& extras) {
  // The clock's origin and end: every event on the page.
  std::int64_t lo = kNever, hi = 0;
  auto see = [&](std::int64_t t) {
    if (t == kNever) return;
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  };
  std::size_t operations = 0;
  for (const TokenHistory& th : history.tokens) {
    operations += th.ops.size();
    for (const Operation& op : th.ops) {
      see(op.invoke_time);
      see(op.complete_time);
      see(op.info_time);
    }
  }
  const std::size_t kept_messages = std::min(extras.messages.size(), kHtmlMaxMessages);
  for (std::size_t i = 0; i < kept_messages; ++i) see(extras.messages[i].sent_ns);
  for (const HtmlFault& f : extras.faults) see(f.time_ns);
  if (lo == kNever) lo = 0;
  if (hi < lo) hi = lo;
  // Messages still in flight when the run ended arrive "after the end": the page draws them
  // open (they are not part of the clock's end).
  const Clock clock{lo};

  const bool with_raw = !extras.history_text.empty() && operations <= kHtmlMaxRawOps;
  const std::vector<std::string_view> lines =
      with_raw ? SplitLines(extras.history_text) : std::vector<std::string_view>{};
  auto raw_line = [&](std::uint64_t n) -> std::string {
    if (n == 0 || n >= lines.size()) return "null";
    return JsonQuote(Truncated(lines[n], 600));
  };

  std::string data;
  data.reserve(256 + operations * 64 + kept_messages * 48);
  data += fmt::format("{{\"title\":{},\"source\":{},\"verdict\":{},\"operations\":{},\"t1\":{},",
                      JsonQuote(extras.title), JsonQuote(extras.source),
                      JsonQuote(VerdictName(report.overall)), operations, clock.Rel(hi));
  data += fmt::format("\"origin\":{},", lo == 0 ? "null" : fmt::format("\"{}\"", lo));
  data += fmt::format(
      "\"simulated\":{},\"messageCount\":{},\"droppedMessages\":{},"
      "\"faultCount\":{},",
      extras.simulated ? "true" : "false", kept_messages, extras.messages.size() - kept_messages,
      extras.faults.size());
  auto string_array = [&](const char* key, const std::vector<std::string>& items) {
    data += fmt::format("\"{}\":[", key);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) data += ',';
      data += JsonQuote(items[i]);
    }
    data += "],";
  };
  string_array("notes", extras.notes);
  string_array("values", history.values);
  string_array("nodes", extras.nodes);
  string_array("labels", extras.labels);

  // Messages and faults per token.
  std::vector<std::vector<std::size_t>> token_msgs(history.tokens.size());
  for (std::size_t i = 0; i < kept_messages; ++i) {
    const HtmlMessage& m = extras.messages[i];
    if (m.token < token_msgs.size()) token_msgs[m.token].push_back(i);
  }

  std::map<std::string_view, const TokenVerdict*> verdicts;
  for (const TokenVerdict& v : report.tokens) verdicts[v.token] = &v;

  data += "\"tokens\":[";
  for (std::size_t ti = 0; ti < history.tokens.size(); ++ti) {
    const TokenHistory& th = history.tokens[ti];
    const auto found = verdicts.find(th.token);
    const TokenVerdict* verdict = found == verdicts.end() ? nullptr : found->second;
    std::set<std::uint64_t> violating;
    if (verdict && verdict->verdict != Verdict::kLinearizable) {
      violating.insert(verdict->lines.begin(), verdict->lines.end());
    }
    if (ti) data += ',';
    data += fmt::format(
        "{{\"name\":{},\"verdict\":{},\"rule\":{},\"explanation\":{},\"versionChecked\":{},",
        JsonQuote(th.token), JsonQuote(verdict ? VerdictName(verdict->verdict) : "unchecked"),
        JsonQuote(verdict ? RuleName(verdict->rule) : ""),
        JsonQuote(verdict ? verdict->explanation : ""),
        verdict && verdict->version_checked ? "true" : "false");
    std::set<std::uint32_t> processes;
    for (const Operation& op : th.ops) processes.insert(op.process);
    for (std::size_t i : token_msgs[ti]) {
      const HtmlMessage& m = extras.messages[i];
      if (!m.from.node) processes.insert(m.from.id);
      if (!m.to.node) processes.insert(m.to.id);
    }
    data += "\"processes\":[";
    bool first = true;
    for (std::uint32_t p : processes) {
      data += fmt::format("{}{}", first ? "" : ",", p);
      first = false;
    }
    data += "],\"nodes\":[";
    std::set<std::uint32_t> nodes;
    if (ti < extras.token_nodes.size()) {
      nodes.insert(extras.token_nodes[ti].begin(), extras.token_nodes[ti].end());
    }
    for (std::size_t i : token_msgs[ti]) {
      const HtmlMessage& m = extras.messages[i];
      if (m.from.node) nodes.insert(m.from.id);
      if (m.to.node) nodes.insert(m.to.id);
    }
    first = true;
    for (std::uint32_t n : nodes) {
      data += fmt::format("{}{}", first ? "" : ",", n);
      first = false;
    }
    data += "],";
    AppendOps(data, th, violating, clock);
    data += ",\"raw\":";
    if (with_raw) {
      data += '[';
      for (std::size_t k = 0; k < th.ops.size(); ++k) {
        if (k) data += ',';
        data += fmt::format("[{},{}]", raw_line(th.ops[k].invoke_line),
                            raw_line(th.ops[k].complete_line));
      }
      data += ']';
    } else {
      data += "null";
    }
    data += ",\"msgs\":[";
    first = true;
    std::map<std::pair<std::uint32_t, std::int64_t>, std::size_t> op_index;
    for (std::size_t k = 0; k < th.ops.size(); ++k) {
      op_index[{th.ops[k].process, th.ops[k].invoke_time}] = k;
    }
    for (std::size_t i : token_msgs[ti]) {
      const HtmlMessage& m = extras.messages[i];
      std::int64_t op = -1;
      if (m.op) {
        if (auto it = op_index.find(*m.op); it != op_index.end()) {
          op = static_cast<std::int64_t>(it->second);
        }
      }
      data += fmt::format("{}[{},{},{},{},{},{},{},{},{}]", first ? "" : ",", m.from.node ? 1 : 0,
                          m.from.id, m.to.node ? 1 : 0, m.to.id, clock.Rel(m.sent_ns),
                          clock.Rel(m.arrives_ns), m.label, m.version, op);
      first = false;
    }
    data += "],\"faults\":[";
    first = true;
    for (const HtmlFault& f : extras.faults) {
      if (f.token && *f.token != ti) continue;
      data += fmt::format("{}[{},{},{}]", first ? "" : ",", f.node, clock.Rel(f.time_ns),
                          f.token ? 0 : 1);
      first = false;
    }
    data += "]}";
  }
  data += "]}";

  // Inside <script>, "</" could end the element: JSON allows "<" escaped in strings, and
  // "<" appears nowhere else in this JSON.
  std::string safe;
  safe.reserve(data.size() + 64);
  for (char c : data) {
    if (c == '<') {
      safe += "\\u003c";
    } else {
      safe += c;
    }
  }

  std::string page;
  page.reserve(safe.size() + 32768);
  page += kHead;
  page += fmt::format("<title>{} \u2014 {}</title>\n", HtmlEscape(extras.title),
                      VerdictName(report.overall));
  page += kStyle;
  page += kBody;
  page += "<script type=\"application/json\" id=\"report-data\">";
  page += safe;
  page += "</script>\n";
  page += kScript;
  return page;
}

token::Status WriteHtmlReport(const std::string& path, const History& history, const Report& report,
                              const HtmlExtras& extras) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) {
    out << RenderHtmlReport(history, report, extras);
    out.close();
  }
  if (!out) {
    return token::Status::InvalidArgument(fmt::format("cannot write the HTML report '{}'", path));
  }
  return token::Status::Ok();
}

}  // namespace checker
