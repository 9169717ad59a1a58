#include "checker/linearizability.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "checker/linearizability_detail.h"

namespace checker {
namespace lin_detail {

const char* OpName(const Operation& op) {
  switch (op.type) {
    case OpType::kWrite:
      return "write";
    case OpType::kRead:
      return "read";
    case OpType::kCas:
      return "cas";
  }
  return "operation";
}

std::string Describe(const Operation* op) {
  if (!op) return "the initial value";
  return fmt::format("the {} at line {}", OpName(*op), op->line());
}

TokenVerdict Violation(const TokenHistory& token, Rule rule, std::string explanation,
                       std::vector<const Operation*> ops) {
  TokenVerdict v;
  v.token = token.token;
  v.verdict = Verdict::kViolation;
  v.rule = rule;
  v.explanation = std::move(explanation);
  v.operations = token.ops.size();
  for (const Operation* op : ops) {
    if (op) v.lines.push_back(op->line());
  }
  std::sort(v.lines.begin(), v.lines.end());
  v.lines.erase(std::unique(v.lines.begin(), v.lines.end()), v.lines.end());
  return v;
}

TokenVerdict Ok(const TokenHistory& token) {
  TokenVerdict v;
  v.token = token.token;
  v.operations = token.ops.size();
  return v;
}

}  // namespace lin_detail

namespace {

using lin_detail::Describe;
using lin_detail::kBeforeEverything;
using lin_detail::Ok;
using lin_detail::OpName;
using lin_detail::ValueSlots;
using lin_detail::Violation;

// Why the version order matters beyond linearizable values (for disagreements).
constexpr const char* kVersionPromise =
    "The protocol promises more than values that can be ordered: a read returns the version "
    "of the write it read and versions follow real time; a replica that overwrites a newer "
    "version with an older one breaks that promise even while the values still look "
    "linearizable";

// "read 3", "wrote 3", "cas 1 -> 2", "cas 1 (failed: the register held another value)".
std::string OpText(const History& history, const Operation& op) {
  switch (op.type) {
    case OpType::kRead:
      return op.outcome == Outcome::kOk ? "returned " + history.DescribeValue(op.value)
                                        : std::string("never returned");
    case OpType::kWrite:
      return "wrote " + history.DescribeValue(op.value);
    case OpType::kCas:
      if (op.cas_failed) {
        return fmt::format("found the register not holding {}", history.DescribeValue(op.expected));
      }
      return fmt::format("set {} to {}", history.DescribeValue(op.expected),
                         history.DescribeValue(op.value));
  }
  return "";
}

// The two latest-invoked ok writes of distinct values among those finished by `end`.
struct LatestWrites {
  std::int64_t end;
  const Operation* top;
  const Operation* other;  // latest-invoked with a value other than top's
};

// Ok writes in completion order, with the two latest-invoked of distinct values so far.
std::vector<LatestWrites> LatestWritesByCompletion(const TokenHistory& token) {
  std::vector<LatestWrites> prefix;
  const Operation* top = nullptr;
  const Operation* other = nullptr;
  for (std::uint32_t i : token.completed) {
    const Operation& op = token.ops[i];
    if (op.type != OpType::kWrite || op.outcome != Outcome::kOk) continue;
    if (!top || op.invoke_time > top->invoke_time) {
      if (top && top->value != op.value) other = top;
      top = &op;
    } else if (op.value != top->value && (!other || op.invoke_time > other->invoke_time)) {
      other = &op;
    }
    prefix.push_back({op.complete_time, top, other});
  }
  return prefix;
}

// Violations the search would report only after exploring every state, found directly
// (registers without cas): a read of a value no write wrote, or whose every write started
// after the read ended; and a stale read: a read of X that started after a write w of
// another value had finished, when every write of X had finished before w started (so w,
// or something later, overwrote X before the read).
std::optional<TokenVerdict> QuickViolation(const History& history, const TokenHistory& token) {
  struct Writes {
    std::int64_t last_end = kBeforeEverything;  // latest completion (kNever: unfinished)
    const Operation* last = nullptr;
    const Operation* first = nullptr;  // earliest invocation
  };
  std::unordered_map<ValueId, Writes> writes;
  for (const Operation& op : token.ops) {
    if (op.type == OpType::kCas) return std::nullopt;
    if (op.type != OpType::kWrite || op.outcome == Outcome::kFail) continue;
    Writes& w = writes[op.value];
    if (!w.last || op.complete_time > w.last_end) {
      w.last_end = op.complete_time;
      w.last = &op;
    }
    if (!w.first) w.first = &op;  // ops are in invocation order
  }
  const std::vector<LatestWrites> prefix = LatestWritesByCompletion(token);
  for (const Operation& r : token.ops) {
    if (r.type != OpType::kRead || r.outcome != Outcome::kOk) continue;
    auto it = writes.find(r.value);
    std::int64_t last_end = kBeforeEverything;  // the initial value: before everything
    const Operation* last = nullptr;
    if (it != writes.end()) {
      last_end = it->second.last_end;
      last = it->second.last;
    }
    if (r.value != kInitialValue) {
      if (it == writes.end()) {
        return Violation(token, Rule::kValueNeverWritten,
                         fmt::format("the read at line {} returned {}, which no write (that did "
                                     "not fail) wrote",
                                     r.line(), history.DescribeValue(r.value)),
                         {&r});
      }
      if (it->second.first->invoke_time > r.complete_time) {
        return Violation(
            token, Rule::kReadFromFuture,
            fmt::format("the read at line {} returned {}, but every write of that "
                        "value started after the read had finished (the first at "
                        "line {})",
                        r.line(), history.DescribeValue(r.value), it->second.first->line()),
            {&r, it->second.first});
      }
    }
    auto end = std::lower_bound(prefix.begin(), prefix.end(), r.invoke_time,
                                [](const LatestWrites& b, std::int64_t t) { return b.end < t; });
    if (end == prefix.begin()) continue;
    const LatestWrites& b = *(end - 1);
    const Operation* w = b.top->value != r.value ? b.top : b.other;
    if (!w || w->invoke_time <= last_end) continue;
    return Violation(
        token, Rule::kStaleRead,
        fmt::format("the read at line {} returned {} although the write at line {} ({}) had "
                    "finished before it started, and {} before that write started",
                    r.line(), history.DescribeValue(r.value), w->line(),
                    history.DescribeValue(w->value),
                    last ? fmt::format("every write of {} had finished (the last at line {})",
                                       history.DescribeValue(r.value), last->line())
                         : std::string("the initial value came")),
        {&r, w, last});
  }
  return std::nullopt;
}

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kViolation:
      return "violation";
    case Verdict::kCannotDecide:
      return "cannot decide";
  }
  return "unknown";
}

const char* MethodName(Method m) {
  switch (m) {
    case Method::kZones:
      return "zones";
    case Method::kVersions:
      return "versions";
    case Method::kSearch:
      return "search";
  }
  return "unknown";
}

const char* RuleName(Rule r) {
  switch (r) {
    case Rule::kNone:
      return "none";
    case Rule::kStaleRead:
      return "stale read";
    case Rule::kValueNeverWritten:
      return "read of a value never written";
    case Rule::kReadFromFuture:
      return "read from the future";
    case Rule::kNewOldInversion:
      return "new-old inversion between two reads";
    case Rule::kWriteOrder:
      return "write order against real time";
    case Rule::kNoLinearization:
      return "no linearization exists";
    case Rule::kVersionOrder:
      return "version order (values alone are linearizable)";
  }
  return "unknown";
}

TokenVerdict CheckSearch(const History& history, const TokenHistory& token,
                         const SearchBudget& budget) {
  if (auto quick = QuickViolation(history, token)) {
    quick->method = Method::kSearch;
    return *std::move(quick);
  }
  const SearchResult r = SearchLinearization(token, budget);
  TokenVerdict v = Ok(token);
  v.method = Method::kSearch;
  v.search = r.stats;
  switch (r.outcome) {
    case SearchOutcome::kLinearizable:
      return v;
    case SearchOutcome::kOutOfTime:
    case SearchOutcome::kOutOfMemory:
      v.verdict = Verdict::kCannotDecide;
      v.explanation = fmt::format(
          "cannot decide: the search ran out of its {} budget ({}) after {} states over {} "
          "operations in {} pieces (values not unique; raise --search-seconds or "
          "--search-memory)",
          r.outcome == SearchOutcome::kOutOfTime ? "time" : "memory",
          r.outcome == SearchOutcome::kOutOfTime ? fmt::format("{} s", budget.seconds)
                                                 : fmt::format("{} MiB", budget.memory_bytes >> 20),
          r.stats.states, r.stats.operations, r.stats.pieces);
      return v;
    case SearchOutcome::kNoLinearization:
      break;
  }
  if (!r.stuck) {
    TokenVerdict bad = Violation(
        token, Rule::kNoLinearization,
        fmt::format("no order of the {} operations that matter respects both real time and the "
                    "register (exhaustive search)",
                    r.stats.operations),
        {});
    bad.method = Method::kSearch;
    bad.search = r.stats;
    return bad;
  }
  std::vector<const Operation*> involved{r.stuck};
  std::string open;
  for (const Operation* op : r.open) {
    involved.push_back(op);
    open += fmt::format("{}{} at line {} ({})", open.empty() ? "" : ", ", OpName(*op), op->line(),
                        OpText(history, *op));
  }
  TokenVerdict bad = Violation(
      token, Rule::kNoLinearization,
      fmt::format("no order of the {} operations that matter respects both real time and the "
                  "register: the longest order found places {} of them, the register then holds "
                  "{}, and {} ({}) cannot take effect before it finished{}{} (exhaustive search)",
                  r.stats.operations, r.placed, history.DescribeValue(r.value_at_stuck),
                  Describe(r.stuck), OpText(history, *r.stuck),
                  open.empty() ? "" : "; open then: ", open),
      involved);
  bad.method = Method::kSearch;
  bad.search = r.stats;
  return bad;
}

namespace {

// Whether the token's written values are unique (failed writes included: a read of such a
// value is ambiguous) and it has no cas: then the zone method decides, without the search.
bool UniqueWrites(const History& history, const TokenHistory& token) {
  ValueSlots seen(history.values.size());
  for (const Operation& op : token.ops) {
    if (op.type == OpType::kRead) continue;
    if (op.type == OpType::kCas || op.value == kInitialValue || seen.Get(op.value) != -1) {
      return false;
    }
    seen.Set(op.value, 1);
  }
  return true;
}

// `known_unique`: UniqueWrites of the token when the caller knows it.
TokenVerdict CheckTokenKnowing(const History& history, const TokenHistory& token,
                               const CheckOptions& options, std::optional<bool> known_unique) {
  TokenVerdict v;
  // The version order, checked on a thread of its own beside the rest: every way below
  // needs it at the end unless it finds a violation first.
  std::future<TokenVerdict> versions_ahead;
  if (options.check_versions && token.ops.size() >= options.parallel_from) {
    try {
      versions_ahead = std::async(std::launch::async,
                                  [&history, &token] { return CheckVersions(history, token); });
    } catch (const std::system_error&) {
      // No thread: checked at the end, as below.
    }
  }
  const bool unique = known_unique ? *known_unique : UniqueWrites(history, token);
  if (unique) {
    v = CheckZones(history, token);
  } else if (options.check_versions && VersionsApply(token)) {
    v = CheckByVersions(history, token);
    if (v.verdict == Verdict::kViolation) {
      // The reads-from the versions name is impossible; do the values alone allow an order?
      const TokenVerdict by_values = CheckSearch(history, token, options.budget);
      v.search = by_values.search;
      if (by_values.verdict == Verdict::kLinearizable) {
        v.rule = Rule::kVersionOrder;
        v.explanation = fmt::format(
            "linearizable by values alone (search), but not with every read reading the write "
            "of the version it returned: {}. {}",
            v.explanation, kVersionPromise);
      } else {
        v.explanation += by_values.verdict == Verdict::kViolation
                             ? " (the search by values alone finds no order either)"
                             : " (the search by values alone ran out of its budget)";
      }
      return v;
    }
  } else {
    v = CheckSearch(history, token, options.budget);
  }
  if (v.verdict == Verdict::kViolation || !options.check_versions) return v;
  // The version order, whichever method decided linearizability (or could not).
  TokenVerdict versions =
      versions_ahead.valid() ? versions_ahead.get() : CheckVersions(history, token);
  if (versions.verdict == Verdict::kViolation) {
    versions.method = v.method;
    versions.search = v.search;
    if (v.verdict == Verdict::kLinearizable && v.method != Method::kZones) {
      versions.explanation =
          fmt::format("linearizable by values ({}), but the version order is broken: {}. {}",
                      MethodName(v.method), versions.explanation, kVersionPromise);
    } else if (v.verdict == Verdict::kLinearizable) {
      versions.explanation =
          fmt::format("linearizable by values, but the version order is broken: {}. {}",
                      versions.explanation, kVersionPromise);
    }
    return versions;
  }
  v.version_checked = versions.version_checked;
  return v;
}

// The tokens of a history of several: those the zone method decides (no search: its
// budget holds per token, one search at a time) on as many threads as there are cores, at
// most 8, when the history is big enough, each thread taking the next one not yet taken;
// the others after, one at a time.
void CheckTokens(const History& history, const CheckOptions& options, std::size_t operations,
                 Report* report) {
  const std::size_t n = history.tokens.size();
  std::vector<char> unique(n);
  for (std::size_t i = 0; i < n; ++i) unique[i] = UniqueWrites(history, history.tokens[i]);
  std::vector<std::size_t> zoned;
  for (std::size_t i = 0; i < n; ++i) {
    if (unique[i]) zoned.push_back(i);
  }
  unsigned threads = 1;
  if (zoned.size() > 1 && operations >= options.parallel_from) {
    threads = static_cast<unsigned>(std::min<std::size_t>(
        zoned.size(), std::clamp(std::thread::hardware_concurrency(), 1U, 8U)));
  }
  if (threads > 1) {
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t k = next++; k < zoned.size(); k = next++) {
        const std::size_t i = zoned[k];
        report->tokens[i] = CheckTokenKnowing(history, history.tokens[i], options, true);
      }
    };
    std::vector<std::thread> helpers;
    for (unsigned t = 1; t < threads; ++t) {
      try {
        helpers.emplace_back(work);
      } catch (const std::system_error&) {
        break;  // fewer threads: the rest is checked here
      }
    }
    work();
    for (std::thread& t : helpers) t.join();
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (threads == 1 || !unique[i]) {
      report->tokens[i] = CheckTokenKnowing(history, history.tokens[i], options, unique[i] != 0);
    }
  }
}

}  // namespace

TokenVerdict CheckToken(const History& history, const TokenHistory& token,
                        const CheckOptions& options) {
  return CheckTokenKnowing(history, token, options, std::nullopt);
}

Report CheckHistory(const History& history, const CheckOptions& options) {
  Report report;
  const std::size_t n = history.tokens.size();
  report.tokens.resize(n);
  std::size_t operations = 0;
  for (const TokenHistory& token : history.tokens) operations += token.ops.size();
  if (n == 1) {
    // CheckToken starts the version order's thread before it looks at the values.
    report.tokens[0] = CheckToken(history, history.tokens[0], options);
  } else {
    CheckTokens(history, options, operations, &report);
  }
  report.operations = operations;
  for (const TokenVerdict& verdict : report.tokens) {
    const Verdict v = verdict.verdict;
    if (v == Verdict::kViolation) {
      report.overall = Verdict::kViolation;
    } else if (v == Verdict::kCannotDecide && report.overall == Verdict::kLinearizable) {
      report.overall = Verdict::kCannotDecide;
    }
  }
  return report;
}

}  // namespace checker
