#include "checker/report.h"

#include "checker/json_escape.h"

#include <fmt/format.h>

namespace checker {
std::string FormatReportText(const Report& report) {
  std::string out;
  for (const TokenVerdict& t : report.tokens) {
    out += fmt::format("token {}: {} ({} operations, by {}{})\n", t.token, VerdictName(t.verdict),
                       t.operations, MethodName(t.method),
                       t.version_checked ? ", version order checked" : "");
    if (t.search.ran) {
      out += fmt::format(
          "  search: {} operations ({} left out), {} pieces, {} states, {:.3f} s, {:.1f} MiB\n",
          t.search.operations, t.search.pruned, t.search.pieces, t.search.states, t.search.seconds,
          static_cast<double>(t.search.memory_bytes) / (1 << 20));
    }
    if (t.verdict == Verdict::kViolation) {
      out += fmt::format("  rule: {}\n  {}\n  lines:", RuleName(t.rule), t.explanation);
      for (auto l : t.lines) out += fmt::format(" {}", l);
      out += '\n';
    } else if (t.verdict == Verdict::kCannotDecide) {
      out += fmt::format("  {}\n", t.explanation);
    }
  }
  out += fmt::format("verdict: {} ({} tokens, {} operations)\n", VerdictName(report.overall),
                     report.tokens.size(), report.operations);
  return out;
}

std::string FormatReportJson(const Report& report) {
  std::string out = fmt::format("{{\"verdict\":\"{}\",\"operations\":{},\"tokens\":[",
                                VerdictName(report.overall), report.operations);
  for (std::size_t i = 0; i < report.tokens.size(); ++i) {
    const TokenVerdict& t = report.tokens[i];
    if (i) out += ',';
    out += fmt::format(
        "{{\"token\":\"{}\",\"verdict\":\"{}\",\"operations\":{},\"method\":\"{}\","
        "\"version_checked\":{}",
        JsonEscape(t.token), VerdictName(t.verdict), t.operations, MethodName(t.method),
        t.version_checked ? "true" : "false");
    if (t.search.ran) {
      out += fmt::format(
          ",\"search\":{{\"operations\":{},\"left_out\":{},\"pieces\":{},\"states\":{},"
          "\"seconds\":{:.6f},\"memory_bytes\":{}}}",
          t.search.operations, t.search.pruned, t.search.pieces, t.search.states, t.search.seconds,
          t.search.memory_bytes);
    }
    if (t.verdict != Verdict::kLinearizable) {
      out += fmt::format(",\"rule\":\"{}\",\"explanation\":\"{}\",\"lines\":[", RuleName(t.rule),
                         JsonEscape(t.explanation));
      for (std::size_t j = 0; j < t.lines.size(); ++j) {
        out += fmt::format("{}{}", j ? "," : "", t.lines[j]);
      }
      out += ']';
    }
    out += '}';
  }
  out += "]}";
  return out;
}

int ExitCodeOf(const Report& report) {
  switch (report.overall) {
    case Verdict::kLinearizable:
      return 0;
    case Verdict::kViolation:
      return 1;
    case Verdict::kCannotDecide:
      return 2;
  }
  return 2;
}

}  // namespace checker
