// The HTML report's script (checker/report_page/report.js): draws the page from the data
// checker/html_report.cc embeds in the page (the JSON element with id "report-data").
// Only what is in view is drawn (one SVG per token); docs/FORMATS.md has the page's DOM
// contract.
//
// The data (times in ns from the first event; a field marked "opt" is absent when it does
// not apply):
//   D: title, source, verdict, operations, end (the last event), origin (the recorder's
//      clock at time 0, a string; null when 0), simulated, messageCount, droppedMessages,
//      faultCount, notes [string], values [canonical JSON text of each written value],
//      nodes [name], labels [message type], tokens [token]
//   token: name, verdict, rule, explanation, versionChecked, method ("zones" | "versions" |
//      "search": how linearizability was decided), processes [process lane],
//      nodes [node index lane], ops [op], msgs [msg], faults [fault]
//   op: proc (client process), f ("write" | "read" | "cas": val is the value it sets),
//      out ("ok" | "fail" | "info" | "pending": never completed), inv (invoked),
//      end (opt: completed, or when its unknown outcome was recorded), invLine,
//      endLine (opt), val (opt: index into D.values; null: the initial value),
//      ver (opt: version), bad (opt: true when the checker named it in a violation),
//      raw (opt: its history lines, when the page keeps them)
//   msg: from, to (lane keys: "c3" is client process 3, "n1" is node D.nodes[1]), sent,
//      arrives (after D.end: not delivered before the run ended), label (index into
//      D.labels), ver (opt: the version it carries), op (opt: index into token.ops of
//      the operation it serves)
//   fault: node (index into D.nodes), time, wholeNode (opt: true when the whole node
//      crashed, not just this token)
// In this script D, t, o, m and f always name the data, a token, an op, a msg and a fault:
// tests/report_data_test.cc checks that the fields read through them are exactly those the
// checker writes (fields the script sets itself, like t.opMsgs, excepted).
"use strict";
(function () {
const D = JSON.parse(document.getElementById("report-data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
const GUTTER = 150, LANE = 22, AXIS = 22, NODEGAP = 10, MAX_MSGS = 3000, MIN_SPAN = 10;
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
  if (v === null) return "initial";
  if (v === undefined) return "";
  const text = D.values[v];
  try { const parsed = JSON.parse(text); if (parsed && typeof parsed.name === "string") return parsed.name; } catch { /* not JSON: shown as text */ }
  return text.length > 24 ? text.slice(0, 23) + "\u2026" : text;
}
const END = Math.max(D.end, 100);  // a run whose events share one instant still gets a scale
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
    t.ops.forEach((o, k) => { if (o.bad) ops.push(k); });
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
  let s = "line " + (o.endLine || o.invLine) + ": " + o.f + " by process " + o.proc;
  if (o.out === "ok") {
    s += o.f !== "read" ? " of " + valueName(o.val) : " returned " + valueName(o.val);
    if (o.ver !== undefined) s += ", version " + o.ver;
  } else {
    s += " (" + o.out + ")";
  }
  return s + ", " + fmtTime(o.inv) + " \u2013 " + (o.end === undefined ? "never completed" : fmtTime(o.end));
}

// ---- sections ----
for (const t of D.tokens) {
  t.opMsgs = [];
  t.msgs.forEach((m, k) => { if (m.op !== undefined) (t.opMsgs[m.op] = t.opMsgs[m.op] || []).push(k); });
}
D.tokens.forEach((t, ti) => {
  const sec = html("section", "token", undefined, $("tokens"));
  sec.id = "token-" + ti;
  const h2 = html("h2", "", "token " + t.name + " ", sec);
  html("span", "badge " + t.verdict.replace(" ", "-"), t.verdict, h2);
  html("span", "muted", "  " + t.ops.length + " operations" +
       (t.method ? ", by " + t.method : "") + (t.versionChecked ? ", version order checked" : "") +
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
function laneY(sec, key) { return sec.lanes.get(key); }
// A lane's key ("c3": client process 3, "n1": node D.nodes[1]) in words.
function laneName(key) { return key[0] === "n" ? "node " + D.nodes[+key.slice(1)] : "process " + key.slice(1); }

function niceStep(span) {
  const raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// One section's drawing of the current view: lanes, time axis, messages (under the bars),
// faults and operations, each a layer of `g`.
function draw(sec) {
  measure(sec);
  const g = sec.layer;
  while (g.firstChild) g.removeChild(g.firstChild);
  sec.svg.setAttribute("viewBox", "0 0 " + width(sec) + " " + sec.height);
  drawLanes(sec, g);
  drawAxis(sec, g);
  drawMessages(sec, g);
  drawFaults(sec, g);
  sec.svg.setAttribute("data-ops-drawn", drawOps(sec, g));
}

function drawLanes(sec, g) {
  const w = width(sec);
  let i = 0;
  for (const [key, y] of sec.lanes) {
    const node = key[0] === "n";
    el("rect", { class: "lane-bg" + (node ? " node" : (i % 2 ? " alt" : "")), x: 0, y: y, width: w, height: LANE }, g);
    const label = el("text", { class: "lane-label", x: 6, y: y + 15 }, g);
    label.textContent = laneName(key);
    ++i;
  }
}

function drawAxis(sec, g) {
  const span = view[1] - view[0], step = niceStep(span);
  const axis = el("g", { class: "axis" }, g);
  for (let v = Math.ceil(view[0] / step) * step; v <= view[1]; v += step) {
    const x = xOf(sec, v);
    el("line", { x1: x, x2: x, y1: AXIS - 4, y2: sec.height - 14 }, axis).style.opacity = 0.5;
    const tx = el("text", { x: x + 2, y: 12 }, axis);
    tx.textContent = fmtTime(v, step);
  }
}

// The messages in view, unless there are more than MAX_MSGS (then a note says so); each
// drawn one is kept in sec.drawnMsgs (for hover) and sec.msgEl.
function drawMessages(sec, g) {
  const t = sec.t;
  sec.drawnMsgs = [];
  sec.msgEl = new Map();
  if (!$("showmsgs").checked || !t.msgs.length) return;
  const visible = [];
  for (let k = 0; k < t.msgs.length; ++k) {
    const m = t.msgs[k];
    if (m.arrives >= view[0] && m.sent <= view[1]) visible.push(k);
  }
  if (visible.length > MAX_MSGS) {
    const note = el("text", { class: "note", x: GUTTER + 4, y: sec.nodeTop - 1 }, g);
    note.textContent = visible.length + " messages in view: zoom in to draw them";
    return;
  }
  const mg = el("g", {}, g);
  for (const k of visible) {
    const m = t.msgs[k];
    const ya = laneY(sec, m.from), yb = laneY(sec, m.to);
    if (ya === undefined || yb === undefined) continue;
    const lost = m.arrives > END;
    const xa = xOf(sec, m.sent), xb = xOf(sec, Math.min(m.arrives, END));
    const yA = ya + LANE / 2, yB = yb + LANE / 2;
    // A node's message to itself bends above its lane.
    const d = ya === yb ? "M" + xa + "," + yA + " Q" + (xa + xb) / 2 + "," + (yA - LANE * 0.9) + " " + xb + "," + yB
                        : "M" + xa + "," + yA + " L" + xb + "," + yB;
    const viol = m.op !== undefined && t.ops[m.op].bad === true;
    const line = el("path", { class: "msg" + (lost ? " lost" : "") + (viol ? " viol" : ""), d: d,
                              "marker-end": "url(#arrow" + sec.ti + ")", "data-msg": k }, mg);
    const pts = ya === yb ? [xa, yA, (xa + xb) / 2, yA - LANE * 0.45, xb, yB] : [xa, yA, xb, yB];
    sec.drawnMsgs.push({ k: k, pts: pts, line: line });
    sec.msgEl.set(k, line);
  }
}

function drawFaults(sec, g) {
  const t = sec.t;
  for (const f of t.faults) {
    if (f.time < view[0] || f.time > view[1]) continue;
    const y = laneY(sec, "n" + f.node);
    if (y === undefined) continue;
    const x = xOf(sec, f.time);
    const fg = el("g", { class: "fault", "data-node": D.nodes[f.node], "data-time": f.time,
                         "data-what": D.nodes[f.node] + (f.wholeNode ? " crashed (every token)" : " crashed for token " + t.name) +
                                      " at " + fmtTime(f.time) + " (" + f.time + " ns)" }, g);
    el("rect", { x: x - 7, y: y + 2, width: 14, height: LANE - 4, fill: "transparent" }, fg);
    el("line", { x1: x - 5, y1: y + 4, x2: x + 5, y2: y + LANE - 4 }, fg);
    el("line", { x1: x + 5, y1: y + 4, x2: x - 5, y2: y + LANE - 4 }, fg);
    const tx = el("text", { x: x + 7, y: y + 15 }, fg);
    tx.textContent = f.wholeNode ? "node crashed" : "crashed for token " + t.name;
  }
}

// The operations in view, as bars (the DOM contract in docs/FORMATS.md); returns how many.
function drawOps(sec, g) {
  const t = sec.t;
  const x0 = GUTTER, x1 = width(sec) - 8;
  const clip = (x) => Math.max(x0 - 2, Math.min(x1 + 2, x));
  let drawn = 0;
  const og = el("g", {}, g);
  for (let k = 0; k < t.ops.length; ++k) {
    const o = t.ops[k];
    const end = o.end === undefined ? END : o.end;
    if (end < view[0] || o.inv > view[1]) continue;
    const y = laneY(sec, "c" + o.proc);
    const xa = clip(xOf(sec, o.inv));
    let xb = clip(xOf(sec, end));
    if (o.out === "pending") xb = x1 + 2;
    const wbar = Math.max(xb - xa, 2);
    const cls = "op " + o.f + (o.out !== "ok" ? " " + o.out : "") + (o.bad ? " violation" : "");
    el("rect", { class: cls, x: xa, y: y + 3, width: wbar, height: LANE - 6, rx: 2, "data-k": k,
                 "data-token": t.name, "data-process": o.proc, "data-line": o.endLine || o.invLine,
                 "data-invoke-line": o.invLine }, og);
    if (o.out === "info" && o.f !== "read") {
      // A write of unknown outcome may take effect at any later time.
      el("line", { class: "info-tail", x1: xa + wbar, y1: y + LANE / 2, x2: x1, y2: y + LANE / 2 }, og);
    }
    if (wbar > 34) {
      let label = (o.f === "write" ? "W " : o.f === "cas" ? "C " : "R ") + (o.out === "ok" || o.f !== "read" ? valueName(o.val) : o.out);
      if (o.ver !== undefined) label += " v" + o.ver;
      const maxChars = Math.floor((wbar - 6) / 6);
      if (label.length > maxChars) label = label.slice(0, Math.max(maxChars - 1, 1)) + "\u2026";
      const tx = el("text", { class: "op-label", x: xa + 4, y: y + 15 }, og);
      tx.textContent = label;
    }
    if (o.bad) {
      const mark = el("text", { class: "viol-mark", x: xa - 1, y: y + 3 }, og);
      mark.textContent = "!";
    }
    ++drawn;
  }
  return drawn;
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
    a = Math.min(a, o.inv);
    b = Math.max(b, o.end === undefined ? o.inv : o.end);
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
  let s = o.f + " by process " + o.proc + " on token " + t.name + ": " + o.out;
  s += "\ninvoked " + fmtTime(o.inv) + " (" + o.inv + " ns, line " + o.invLine + ")";
  if (o.end !== undefined) s += "\n" + (o.out === "info" ? "unknown outcome recorded " : "completed ") + fmtTime(o.end) + " (" + o.end + " ns" + (o.endLine ? ", line " + o.endLine : "") + "), took " + fmtTime(o.end - o.inv);
  else s += "\nnever completed";
  if (o.ver !== undefined) s += "\nversion " + o.ver;
  if (o.val !== undefined) s += "\nvalue " + (o.val === null ? "null (the initial value)" : D.values[o.val]);
  if (messages) s += "\n" + messages + " messages (highlighted)";
  if (o.bad) s += "\npart of the violation: " + t.rule;
  const raw = o.raw ? o.raw.join("\n") : "";
  return [s, raw];
}
function msgTip(t, k) {
  const m = t.msgs[k];
  let s = D.labels[m.label] + ": " + laneName(m.from) + " \u2192 " + laneName(m.to);
  s += "\nsent " + fmtTime(m.sent) + ", " + (m.arrives > END ? "not delivered before the run ended" : "arrives " + fmtTime(m.arrives) + " (" + fmtTime(m.arrives - m.sent) + " in flight)");
  if (m.ver !== undefined) s += "\ncarries version " + m.ver;
  if (m.op !== undefined) s += "\nfor: " + describeOp(t, m.op);
  return s;
}
function nearestMsg(sec, x, y) {
  let best = null, bd = 25;
  for (const d of sec.drawnMsgs) {
    const p = d.pts;
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
    const near = nearestMsg(sec, x, y);
    if (near) {
      hot.push(near.line);
      near.line.classList.add("hot");
      showTip(ev, msgTip(sec.t, near.k));
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
const hash = /^#violation-(\d+)$/.exec(location.hash);
if (hash) {
  jumpTo(+hash[1] - 1);
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
