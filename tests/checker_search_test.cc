// The checker on repeated values: the memoised search and the version method against the
// brute-force reference on random small histories, and their agreement with each other.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <fmt/format.h>

#include "checker/history.h"
#include "checker/linearizability.h"
#include "checker/report.h"
#include "harness/uniform_pick.h"
#include "support/brute_force_checker.h"

namespace checker {
namespace {

using tokensim::Pick;

struct Generated {
  std::string text;   // values by name: {"name":"a"}, repeated
  std::string keyed;  // the same with every ok operation's value named "a@VERSION"
};

// A linearizable execution over a few values written again and again (linearization
// points, intervals around them, reads returning the current value and version), perturbed
// half the time: a read's value and version swapped for an earlier write's, a read's
// interval moved, operations left unfinished (writes only with `info_writes`).
Generated RandomRepeated(int pool, bool versions, bool info_writes) {
  constexpr long kStuck = -1000;
  struct Ev {
    long time;
    std::string line;
    std::string keyed;
  };
  struct Written {
    char name;
    int version;
  };
  const int processes = Pick(1, 5);
  const int ops = Pick(3, 12);
  const bool perturb = Pick(0, 2) == 1;
  std::vector<Ev> events;
  std::vector<long> free_at(static_cast<std::size_t>(processes), 0);
  std::vector<Written> writes;  // in linearization order; version = index + 1
  long point = 0;
  auto value = [](const Written* w, bool keyed) {
    if (!w) return std::string("null");
    return keyed ? fmt::format("{{\"name\":\"{}@{}\"}}", w->name, w->version)
                 : fmt::format("{{\"name\":\"{}\"}}", w->name);
  };
  for (int i = 0; i < ops; ++i) {
    point += Pick(1, 6);
    const auto p = static_cast<std::size_t>(Pick(0, processes));
    const bool write = Pick(0, 3) == 0;
    if (free_at[p] == kStuck) continue;
    const long start = std::max(free_at[p] + 1, point - Pick(0, 12));
    long end = std::max(start, point) + Pick(0, 12);
    long invoke_at = start;
    int pending_kind = Pick(0, 10);  // 0: info, 1: never completes
    if (write && !info_writes) pending_kind = 2;
    const Written* w = nullptr;
    if (write) {
      writes.push_back(
          {static_cast<char>('a' + Pick(0, pool)), static_cast<int>(writes.size()) + 1});
      w = &writes.back();
    } else {
      w = writes.empty() ? nullptr : &writes.back();
      if (perturb && Pick(0, 4) == 0) {
        const int k = Pick(-1, static_cast<int>(writes.size()));
        w = k < 0 ? nullptr : &writes[static_cast<std::size_t>(k)];
      }
    }
    if (perturb && Pick(0, 3) == 0) {
      const long shift = Pick(-15, 15);
      invoke_at = std::max(free_at[p] + 1, start + shift);
      end = std::max(invoke_at, end + shift);
    }
    free_at[p] = end + 1;
    const char* f = write ? "write" : "read";
    const int version = w ? w->version : 0;
    const std::string invoke =
        fmt::format("{{\"process\":{},\"type\":\"invoke\",\"f\":\"{}\",\"token\":\"t\"", p, f);
    events.push_back({invoke_at,
                      invoke + (write ? ",\"value\":" + value(w, false) : "") +
                          fmt::format(",\"time\":{}}}", invoke_at),
                      invoke + (write ? ",\"value\":" + value(w, true) : "") +
                          fmt::format(",\"time\":{}}}", invoke_at)});
    if (pending_kind == 1) {
      free_at[p] = kStuck;
      continue;
    }
    const bool ok = pending_kind != 0;
    const std::string done = fmt::format(
        "{{\"process\":{},\"type\":\"{}\",\"f\":\"{}\",\"token\":\"t\"", p, ok ? "ok" : "info", f);
    const std::string ver = ok && versions ? fmt::format(",\"version\":{}", version) : "";
    const bool has_value = write || ok;
    events.push_back({end,
                      done + (has_value ? ",\"value\":" + value(w, false) : "") + ver +
                          fmt::format(",\"time\":{}}}", end),
                      done + (has_value ? ",\"value\":" + value(w, true) : "") + ver +
                          fmt::format(",\"time\":{}}}", end)});
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Ev& a, const Ev& b) { return a.time < b.time; });
  Generated g;
  for (const Ev& e : events) {
    g.text += e.line + "\n";
    g.keyed += e.keyed + "\n";
  }
  return g;
}

History Parse(const std::string& text) {
  ParseResult r = ParseHistoryString(text);
  if (r.error) {
    RC_FAIL(fmt::format("generator produced bad input at line {}: {}\n{}", r.error->line,
                        r.error->message, text));
  }
  return *std::move(r.history);
}

RC_GTEST_PROP(CheckerSearchProperty, SearchAgreesWithBruteForceOnRepeatedValues, ()) {
  const Generated g = RandomRepeated(Pick(1, 4), false, true);
  const History h = Parse(g.text);
  const TokenHistory& token = h.tokens.at(0);
  const bool expected = testing::BruteForceLinearizable(token);
  const TokenVerdict search = CheckSearch(h, token);
  const TokenVerdict checked = CheckToken(h, token);
  RC_CLASSIFY(expected, "linearizable");
  if ((search.verdict == Verdict::kLinearizable) != expected ||
      (checked.verdict == Verdict::kLinearizable) != expected) {
    RC_FAIL(fmt::format("brute force says {}, the search says {} ({}), CheckToken {} by {}\n{}",
                        expected ? "linearizable" : "violation", VerdictName(search.verdict),
                        search.explanation, VerdictName(checked.verdict),
                        MethodName(checked.method), g.text));
  }
}

// The version method decides exactly what the brute force decides on the history whose
// values are named by (value, version); whenever it finds an order, the values alone have
// one too (the search agrees).
RC_GTEST_PROP(CheckerSearchProperty, VersionMethodAgreesWithBruteForceAndSearch, ()) {
  const Generated g = RandomRepeated(Pick(1, 4), true, false);
  const History h = Parse(g.text);
  const History keyed = Parse(g.keyed);
  const TokenHistory& token = h.tokens.at(0);
  RC_PRE(VersionsApply(token));
  const bool expected = testing::BruteForceLinearizable(keyed.tokens.at(0));
  const TokenVerdict by_versions = CheckByVersions(h, token);
  const TokenVerdict search = CheckSearch(h, token);
  RC_CLASSIFY(expected, "linearizable by versions");
  RC_CLASSIFY(search.verdict == Verdict::kLinearizable, "linearizable by values");
  if ((by_versions.verdict == Verdict::kLinearizable) != expected) {
    RC_FAIL(fmt::format("brute force on (value, version) says {}, the version method {} ({})\n{}",
                        expected ? "linearizable" : "violation", VerdictName(by_versions.verdict),
                        by_versions.explanation, g.text));
  }
  if (by_versions.verdict == Verdict::kLinearizable && search.verdict != Verdict::kLinearizable) {
    RC_FAIL(fmt::format("the version method finds an order, the search none ({})\n{}",
                        search.explanation, g.text));
  }
  // CheckToken never leaves such a history undecided, and says "linearizable" only when
  // both the versions' order and the version rule hold.
  const TokenVerdict checked = CheckToken(h, token);
  RC_ASSERT(checked.verdict != Verdict::kCannotDecide);
  if (checked.verdict == Verdict::kLinearizable) RC_ASSERT(expected);
}

}  // namespace
}  // namespace checker
