#include "checker/html_report.h"

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>

#include <fmt/format.h>

#include "checker/json_escape.h"
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
constexpr bool HasSlotsOnce(std::string_view frame, std::initializer_list<std::string_view> names) {
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
static_assert(HasSlotsOnce(kHtml, {"title", "verdict", "style", "data", "script"}),
              "report.html needs each slot once: title, verdict, style, data, script");
// The styles and the script sit inside their elements as they are.
static_assert(kStyle.find("</style") == std::string_view::npos, "report.css may not end <style>");
static_assert(kScript.find("</script") == std::string_view::npos, "report.js may not end <script>");

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

  return FillFrame(kHtml, {{"title", HtmlEscape(extras.title)},
                           {"verdict", VerdictName(report.overall)},
                           {"style", kStyle},
                           {"data", safe},
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
