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
#include "support/random_intervals.h"

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
  struct Written {
    char name;
    int version;
  };
  testing::RandomIntervals plan;
  testing::RandomIntervals keyed_plan = plan;  // the same events, values named by version
  std::vector<Written> writes;                 // in linearization order; version = index + 1
  writes.reserve(static_cast<std::size_t>(plan.ops()));
  auto value = [](const Written* w, bool keyed) {
    if (!w) return std::string("null");
    return keyed ? fmt::format("{{\"name\":\"{}@{}\"}}", w->name, w->version)
                 : fmt::format("{{\"name\":\"{}\"}}", w->name);
  };
  for (int i = 0; i < plan.ops(); ++i) {
    const bool write = Pick(0, 3) == 0;
    testing::RandomIntervals::Slot slot;
    if (!plan.Next(!write || info_writes, &slot)) continue;
    const Written* w = nullptr;
    if (write) {
      writes.push_back(
          {static_cast<char>('a' + Pick(0, pool)), static_cast<int>(writes.size()) + 1});
      w = &writes.back();
    } else {
      w = writes.empty() ? nullptr : &writes.back();
      if (plan.perturb() && Pick(0, 4) == 0) {
        const int k = Pick(-1, static_cast<int>(writes.size()));
        w = k < 0 ? nullptr : &writes[static_cast<std::size_t>(k)];
      }
    }
    const char* f = write ? "write" : "read";
    const int version = w ? w->version : 0;
    for (const bool keyed : {false, true}) {
      testing::RandomIntervals& out = keyed ? keyed_plan : plan;
      out.Add(slot.invoke, fmt::format("{{\"process\":{},\"type\":\"invoke\",\"f\":\"{}\","
                                       "\"token\":\"t\"{},\"time\":{}}}",
                                       slot.process, f,
                                       write ? ",\"value\":" + value(w, keyed) : "", slot.invoke));
      if (slot.never) continue;
      const bool ok = !slot.info;
      out.Add(slot.end,
              fmt::format("{{\"process\":{},\"type\":\"{}\",\"f\":\"{}\",\"token\":\"t\"{}{},"
                          "\"time\":{}}}",
                          slot.process, ok ? "ok" : "info", f,
                          write || ok ? ",\"value\":" + value(w, keyed) : "",
                          ok && versions ? fmt::format(",\"version\":{}", version) : "", slot.end));
    }
  }
  return Generated{plan.Text(), keyed_plan.Text()};
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
