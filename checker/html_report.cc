#include "checker/html_report.h"

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>

#include <fmt/format.h>

#include "checker/json_writer.h"
#include "checker/report_page/report_css.h"
#include "checker/report_page/report_html.h"
#include "checker/report_page/report_js.h"

namespace checker {
namespace {

// The page (checker/report_page/), compiled in by checker/CMakeLists.txt: the frame
// (report.html) with a slot {{name}} for each part RenderHtmlReport fills in, its styles
// (report.css) and the script that draws it from the embedded data (report.js).
using report_page::kHtml;
using report_page::kScript;
using report_page::kStyle;

constexpr std::string_view kSlotOpen = "{{", kSlotClose = "}}";

// Whether `frame` holds each of `names` exactly once as a slot, and no other slot.
bool HasSlotsOnce(std::string_view frame, std::initializer_list<std::string_view> names) {
  std::size_t slots = 0;
  for (std::size_t at = frame.find(kSlotOpen); at != std::string_view::npos;
       at = frame.find(kSlotOpen, at + 1)) {
    ++slots;
  }
  if (slots != names.size()) return false;
  for (std::string_view name : names) {
    std::size_t found = 0;
    for (std::size_t at = frame.find(kSlotOpen); at != std::string_view::npos;
         at = frame.find(kSlotOpen, at + 1)) {
      const std::string_view rest = frame.substr(at + kSlotOpen.size());
      if (rest.substr(0, name.size()) == name && rest.substr(name.size(), 2) == kSlotClose) ++found;
    }
    if (found != 1) return false;
  }
  return true;
}
// Whether the page files fit together: each slot once in the frame, and styles and script
// that cannot close their own elements (they sit inside them as they are). Checked when a
// report is first rendered (GCC 12 cannot evaluate the search at compile time in every
// build type) and by report_tests.
bool PageIsWellFormed() {
  return HasSlotsOnce(kHtml, {"title", "verdict", "style", "data", "script"}) &&
         kStyle.find("</style") == std::string_view::npos &&
         kScript.find("</script") == std::string_view::npos;
}

struct Slot {
  std::string_view name;
  std::string_view text;
};

// The frame with each slot replaced by its text (HasSlotsOnce holds for the frame).
std::string FillFrame(std::string_view frame, std::initializer_list<Slot> slots) {
  std::size_t size = frame.size();
  for (const Slot& slot : slots) size += slot.text.size();
  std::string page;
  page.reserve(size);
  std::size_t from = 0;
  for (std::size_t at = frame.find(kSlotOpen); at != std::string_view::npos;
       at = frame.find(kSlotOpen, from)) {
    page += frame.substr(from, at - from);
    const std::size_t close = frame.find(kSlotClose, at);
    const std::string_view name =
        frame.substr(at + kSlotOpen.size(), close - at - kSlotOpen.size());
    for (const Slot& slot : slots) {
      if (slot.name == name) page += slot.text;
    }
    from = close + kSlotClose.size();
  }
  page += frame.substr(from);
  return page;
}

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
  std::int64_t end = 0;  // the last event, on the recorder's clock
  std::int64_t Rel(std::int64_t t) const { return t - origin; }
};

// The clock's origin and end: every event on the page. Messages still in flight when the
// run ended arrive "after the end": the page draws them open (they are not part of the
// clock's end).
Clock FindClock(const History& history, const HtmlExtras& extras, std::size_t kept_messages) {
  std::int64_t lo = kNever, hi = 0;
  auto see = [&](std::int64_t t) {
    if (t == kNever) return;
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  };
  for (const TokenHistory& th : history.tokens) {
    for (const Operation& op : th.ops) {
      see(op.invoke_time);
      see(op.complete_time);
      see(op.info_time());
    }
  }
  for (std::size_t i = 0; i < kept_messages; ++i) see(extras.messages[i].sent_ns);
  for (const HtmlFault& f : extras.faults) see(f.time_ns);
  if (lo == kNever) lo = 0;
  if (hi < lo) hi = lo;
  return Clock{lo, hi};
}

// What every part of the page's data draws on.
struct PageInput {
  PageInput(const History& h, const Report& r, const HtmlExtras& e)
      : history(h), report(r), extras(e) {
    for (const TokenHistory& th : history.tokens) operations += th.ops.size();
    kept_messages = std::min(extras.messages.size(), kHtmlMaxMessages);
    clock = FindClock(history, extras, kept_messages);
    if (!extras.history_text.empty() && operations <= kHtmlMaxRawOps) {
      lines = SplitLines(extras.history_text);
    }
    token_msgs.resize(history.tokens.size());
    for (std::size_t i = 0; i < kept_messages; ++i) {
      const HtmlMessage& m = extras.messages[i];
      if (m.token < token_msgs.size()) token_msgs[m.token].push_back(i);
    }
  }

  const History& history;
  const Report& report;
  const HtmlExtras& extras;
  std::size_t operations = 0;
  std::size_t kept_messages = 0;
  Clock clock;
  std::vector<std::string_view> lines;               // raw history lines; empty: left out
  std::vector<std::vector<std::size_t>> token_msgs;  // per token: indices into messages
};

// The data's fields are listed at the top of report_page/report.js (and in
// docs/FORMATS.md); tests/report_data_test.cc checks the script reads exactly these.

void WriteStrings(JsonWriter& w, std::string_view key, const std::vector<std::string>& items) {
  w.Key(key).BeginArray();
  for (const std::string& item : items) w.String(item);
  w.EndArray();
}

void WriteStrings(JsonWriter& w, std::string_view key, const TextList& items) {
  w.Key(key).BeginArray();
  for (std::size_t i = 0; i < items.size(); ++i) w.String(items[i]);
  w.EndArray();
}

// The run as a whole: title, verdict, counts, the clock, and the tables the tokens' data
// index into (values, nodes, message labels).
void WriteSummary(JsonWriter& w, const PageInput& in) {
  const HtmlExtras& extras = in.extras;
  w.Field("title", extras.title)
      .Field("source", extras.source)
      .Field("verdict", VerdictName(in.report.overall))
      .Field("operations", in.operations)
      .Field("end", in.clock.Rel(in.clock.end));
  w.Key("origin");
  if (in.clock.origin == 0) {
    w.Null();
  } else {
    w.String(fmt::format("{}", in.clock.origin));
  }
  w.Field("simulated", extras.simulated)
      .Field("messageCount", in.kept_messages)
      .Field("droppedMessages", extras.messages.size() - in.kept_messages)
      .Field("faultCount", extras.faults.size());
  WriteStrings(w, "notes", extras.notes);
  WriteStrings(w, "values", in.history.values);
  WriteStrings(w, "nodes", extras.nodes);
  WriteStrings(w, "labels", extras.labels);
}

// The token's lanes: the client processes (its operations' and its messages' ends) and the
// nodes (its replicas and its messages' ends), in increasing order.
void WriteLanes(JsonWriter& w, const PageInput& in, std::size_t ti) {
  std::set<std::uint32_t> processes, nodes;
  for (const Operation& op : in.history.tokens[ti].ops) processes.insert(op.process);
  if (ti < in.extras.token_nodes.size()) {
    nodes.insert(in.extras.token_nodes[ti].begin(), in.extras.token_nodes[ti].end());
  }
  for (std::size_t i : in.token_msgs[ti]) {
    const HtmlMessage& m = in.extras.messages[i];
    (m.from.node ? nodes : processes).insert(m.from.id);
    (m.to.node ? nodes : processes).insert(m.to.id);
  }
  w.Key("processes").BeginArray();
  for (std::uint32_t p : processes) w.Uint(p);
  w.EndArray().Key("nodes").BeginArray();
  for (std::uint32_t n : nodes) w.Uint(n);
  w.EndArray();
}

const char* OutcomeName(const Operation& op) {
  switch (op.outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFail:
      return "fail";
    case Outcome::kInfo:
      return op.complete_line != 0 ? "info" : "pending";
  }
  return "pending";
}

// One operation; `bad`: the checker named it in a violation.
void WriteOp(JsonWriter& w, const PageInput& in, const Operation& op, bool bad) {
  w.BeginObject()
      .Field("proc", op.process)
      .Field("f", op.type == OpType::kWrite ? "write"
                  : op.type == OpType::kCas ? "cas"
                                            : "read")
      .Field("out", OutcomeName(op))
      .Field("inv", in.clock.Rel(op.invoke_time));
  if (op.outcome == Outcome::kInfo) {
    if (op.complete_line != 0) w.Field("end", in.clock.Rel(op.info_time()));
  } else {
    w.Field("end", in.clock.Rel(op.complete_time));
  }
  w.Field("invLine", op.invoke_line);
  if (op.complete_line != 0) w.Field("endLine", op.complete_line);
  if (op.value == kInitialValue) {
    w.Key("val").Null();
  } else if (op.value != kNoValue) {
    w.Field("val", op.value);
  }
  if (op.has_version) w.Field("ver", op.version);
  if (bad) w.Field("bad", true);
  if (!in.lines.empty()) {
    w.Key("raw").BeginArray();
    for (const std::uint64_t n : {op.invoke_line, op.complete_line}) {
      if (n != 0 && n < in.lines.size()) w.String(Truncated(in.lines[n], 600));
    }
    w.EndArray();
  }
  w.EndObject();
}

void WriteOps(JsonWriter& w, const PageInput& in, std::size_t ti, const TokenVerdict* verdict) {
  std::set<std::uint64_t> violating;
  if (verdict && verdict->verdict != Verdict::kLinearizable) {
    violating.insert(verdict->lines.begin(), verdict->lines.end());
  }
  w.Key("ops").BeginArray();
  for (const Operation& op : in.history.tokens[ti].ops) {
    const bool bad = violating.count(op.invoke_line) > 0 ||
                     (op.complete_line != 0 && violating.count(op.complete_line) > 0);
    WriteOp(w, in, op, bad);
  }
  w.EndArray();
}

// A message's end as the page names its lane: "c<process>" or "n<node index>".
std::string_view EndpointKey(const HtmlEndpoint& e, char (&buf)[16]) {
  const auto r = fmt::format_to_n(buf, sizeof buf, "{}{}", e.node ? 'n' : 'c', e.id);
  return std::string_view(buf, r.size);
}

void WriteMessages(JsonWriter& w, const PageInput& in, std::size_t ti) {
  const TokenHistory& th = in.history.tokens[ti];
  std::map<std::pair<std::uint32_t, std::int64_t>, std::size_t> op_index;
  for (std::size_t k = 0; k < th.ops.size(); ++k) {
    op_index[{th.ops[k].process, th.ops[k].invoke_time}] = k;
  }
  char from[16], to[16];
  w.Key("msgs").BeginArray();
  for (std::size_t i : in.token_msgs[ti]) {
    const HtmlMessage& m = in.extras.messages[i];
    w.BeginObject()
        .Field("from", EndpointKey(m.from, from))
        .Field("to", EndpointKey(m.to, to))
        .Field("sent", in.clock.Rel(m.sent_ns))
        .Field("arrives", in.clock.Rel(m.arrives_ns))
        .Field("label", m.label);
    if (m.version >= 0) w.Field("ver", m.version);
    if (m.op) {
      if (auto it = op_index.find(*m.op); it != op_index.end()) w.Field("op", it->second);
    }
    w.EndObject();
  }
  w.EndArray();
}

void WriteFaults(JsonWriter& w, const PageInput& in, std::size_t ti) {
  w.Key("faults").BeginArray();
  for (const HtmlFault& f : in.extras.faults) {
    if (f.token && *f.token != ti) continue;
    w.BeginObject().Field("node", f.node).Field("time", in.clock.Rel(f.time_ns));
    if (!f.token) w.Field("wholeNode", true);
    w.EndObject();
  }
  w.EndArray();
}

void WriteToken(JsonWriter& w, const PageInput& in, std::size_t ti, const TokenVerdict* verdict) {
  const TokenHistory& th = in.history.tokens[ti];
  w.BeginObject()
      .Field("name", th.token)
      .Field("verdict", verdict ? VerdictName(verdict->verdict) : "unchecked")
      .Field("rule", verdict ? RuleName(verdict->rule) : "")
      .Field("explanation", verdict ? std::string_view(verdict->explanation) : "")
      .Field("versionChecked", verdict && verdict->version_checked)
      .Field("method", verdict ? MethodName(verdict->method) : "");
  WriteLanes(w, in, ti);
  WriteOps(w, in, ti, verdict);
  WriteMessages(w, in, ti);
  WriteFaults(w, in, ti);
  w.EndObject();
}

// The page's data: one JSON object, safe inside a <script> element.
std::string PageData(const PageInput& in) {
  std::string data;
  data.reserve(256 + in.operations * 96 + in.kept_messages * 80);
  JsonWriter w(data, JsonWriter::Mode::kForScript);
  w.BeginObject();
  WriteSummary(w, in);
  std::map<std::string_view, const TokenVerdict*> verdicts;
  for (const TokenVerdict& v : in.report.tokens) verdicts[v.token] = &v;
  w.Key("tokens").BeginArray();
  for (std::size_t ti = 0; ti < in.history.tokens.size(); ++ti) {
    const auto found = verdicts.find(in.history.tokens[ti].token);
    WriteToken(w, in, ti, found == verdicts.end() ? nullptr : found->second);
  }
  w.EndArray().EndObject();
  TOKEN_CHECKER_ASSERT(w.Complete(), "the report's data is one JSON object");
  return data;
}

}  // namespace

std::string RenderHtmlReport(const History& history, const Report& report,
                             const HtmlExtras& extras) {
  const std::string data = PageData(PageInput(history, report, extras));
  static const bool well_formed = PageIsWellFormed();
  TOKEN_CHECKER_ASSERT(well_formed,
                       "report.html needs each slot once (title, verdict, style, data, script); "
                       "report.css and report.js may not close their elements");
  return FillFrame(kHtml, {{"title", HtmlEscape(extras.title)},
                           {"verdict", VerdictName(report.overall)},
                           {"style", kStyle},
                           {"data", data},
                           {"script", kScript}});
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
