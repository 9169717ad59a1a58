#include "checker/linearizability.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace checker {
namespace {

constexpr std::int64_t kBeforeEverything = std::numeric_limits<std::int64_t>::min();

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

// "the read at line 12" / "the initial value" (virtual write: nullptr).
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

struct Cluster {
  ValueId value = kInitialValue;
  const Operation* write = nullptr;  // nullptr: the initial value's virtual write
  std::size_t reads = 0;
  // Zone ends: the earliest completion and the latest invocation, with their operations.
  std::int64_t min_end = kNever;
  const Operation* min_end_op = nullptr;
  std::int64_t max_start = kBeforeEverything;
  const Operation* max_start_op = nullptr;

  void Add(const Operation* op, std::int64_t start, std::int64_t end) {
    if (end < min_end || (end == min_end && !min_end_op)) {
      min_end = end;
      min_end_op = op;
    }
    if (start > max_start || (start == max_start && !max_start_op)) {
      max_start = start;
      max_start_op = op;
    }
  }
  bool forward() const { return min_end < max_start; }
};

// Names the rule when operation `late` (of the value `late_value`) had to take effect
// after `early`, an operation of another value that itself had to come later.
Rule ClassifyOrder(const Operation* must_precede, const Operation* late) {
  // `must_precede` finished before `late` started, yet `late` reflects an older value.
  if (late && late->type == OpType::kRead) {
    if (must_precede && must_precede->type == OpType::kRead) return Rule::kNewOldInversion;
    return Rule::kStaleRead;
  }
  return Rule::kWriteOrder;
}

// A map from ValueId to a small integer, backed by a vector sized to the history's values
// and cleared entry by entry, so checking many tokens costs no rehashing or reallocation.
class ValueSlots {
 public:
  explicit ValueSlots(std::size_t values) {
    thread_local std::vector<std::int32_t> storage;
    if (storage.size() < values + 1) storage.assign(values + 1, -1);
    slots_ = &storage;
  }
  ~ValueSlots() {
    for (ValueId v : touched_) (*slots_)[Index(v)] = -1;
  }
  ValueSlots(const ValueSlots&) = delete;
  ValueSlots& operator=(const ValueSlots&) = delete;

  std::int32_t Get(ValueId v) const { return (*slots_)[Index(v)]; }
  void Set(ValueId v, std::int32_t x) {
    if ((*slots_)[Index(v)] == -1) touched_.push_back(v);
    (*slots_)[Index(v)] = x;
  }

 private:
  static std::size_t Index(ValueId v) { return static_cast<std::size_t>(v + 1); }  // null -> 0
  std::vector<std::int32_t>* slots_;
  std::vector<ValueId> touched_;
};

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

namespace {

// One cluster per value written (the initial value first), each holding its write and the
// reads that returned it; a read of a value no write wrote, or of one whose write started
// after the read finished, is a violation.
std::optional<TokenVerdict> BuildClusters(const History& history, const TokenHistory& token,
                                          std::vector<Cluster>* clusters) {
  clusters->assign(1, Cluster{});  // [0]: the initial value
  (*clusters)[0].Add(nullptr, kBeforeEverything, kBeforeEverything);
  // ValueId -> cluster index, or -(2 + index of a failed write) for a value only a failed
  // write wrote.
  ValueSlots cluster_of(history.values.size());
  cluster_of.Set(kInitialValue, 0);

  for (const Operation& op : token.ops) {
    if (op.type != OpType::kWrite) continue;
    TOKEN_CHECKER_ASSERT(cluster_of.Get(op.value) == -1, "CheckZones needs unique written values");
    if (op.outcome == Outcome::kFail) {
      cluster_of.Set(op.value, -2 - static_cast<std::int32_t>(&op - token.ops.data()));
      continue;
    }
    cluster_of.Set(op.value, static_cast<std::int32_t>(clusters->size()));
    Cluster c;
    c.value = op.value;
    c.write = &op;
    c.Add(&op, op.invoke_time, op.complete_time);  // kNever for an info write
    clusters->push_back(c);
  }
  for (const Operation& op : token.ops) {
    if (op.type != OpType::kRead || op.outcome != Outcome::kOk) continue;
    const std::int32_t slot = cluster_of.Get(op.value);
    if (slot < 0) {
      if (slot <= -2) {
        const Operation* failed = &token.ops[static_cast<std::size_t>(-2 - slot)];
        return Violation(token, Rule::kValueNeverWritten,
                         fmt::format("the read at line {} returned {}, which only the failed "
                                     "write at line {} tried to write",
                                     op.line(), history.DescribeValue(op.value), failed->line()),
                         {&op, failed});
      }
      return Violation(token, Rule::kValueNeverWritten,
                       fmt::format("the read at line {} returned {}, which no write wrote",
                                   op.line(), history.DescribeValue(op.value)),
                       {&op});
    }
    Cluster& c = (*clusters)[static_cast<std::size_t>(slot)];
    if (c.write && op.complete_time < c.write->invoke_time) {
      return Violation(token, Rule::kReadFromFuture,
                       fmt::format("the read at line {} returned {}, but the write of that value "
                                   "at line {} started after the read had finished",
                                   op.line(), history.DescribeValue(op.value), c.write->line()),
                       {&op, c.write});
    }
    ++c.reads;
    c.Add(&op, op.invoke_time, op.complete_time);
  }
  return std::nullopt;
}

// Forward zones must not overlap. `forward` is sorted by start (min_end), so an overlap
// shows between neighbours.
std::optional<TokenVerdict> CheckForwardZonesDisjoint(const History& history,
                                                      const TokenHistory& token,
                                                      const std::vector<const Cluster*>& forward) {
  for (std::size_t i = 1; i < forward.size(); ++i) {
    const Cluster& a = *forward[i - 1];
    const Cluster& b = *forward[i];
    if (b.min_end < a.max_start) {
      // b's earliest-finishing op finished before a's latest-starting op started, and a's
      // earliest-finishing op finished before b's latest-starting op started: each value
      // would have to come after the other.
      const Rule rule = ClassifyOrder(b.min_end_op, a.max_start_op);
      return Violation(
          token, rule,
          fmt::format("{} ({}) started after {} ({}) had finished, so {} came after {}; but {} "
                      "({}) started after {} ({}) had finished, so {} came after {}",
                      Describe(a.max_start_op), history.DescribeValue(a.value),
                      Describe(b.min_end_op), history.DescribeValue(b.value),
                      history.DescribeValue(a.value), history.DescribeValue(b.value),
                      Describe(b.max_start_op), history.DescribeValue(b.value),
                      Describe(a.min_end_op), history.DescribeValue(a.value),
                      history.DescribeValue(b.value), history.DescribeValue(a.value)),
          {a.min_end_op, a.max_start_op, b.min_end_op, b.max_start_op});
    }
  }
  return std::nullopt;
}

// No backward zone may lie strictly inside a forward zone (`forward` sorted by start).
std::optional<TokenVerdict> CheckBackwardZonesOutside(const History& history,
                                                      const TokenHistory& token,
                                                      const std::vector<const Cluster*>& forward,
                                                      const std::vector<const Cluster*>& backward) {
  for (const Cluster* bp : backward) {
    const Cluster& b = *bp;
    // The last forward zone starting before b's zone starts (at b.max_start).
    auto it =
        std::lower_bound(forward.begin(), forward.end(), b.max_start,
                         [](const Cluster* f, std::int64_t start) { return f->min_end < start; });
    if (it == forward.begin()) continue;
    const Cluster& f = **(it - 1);
    if (b.min_end < f.max_start) {
      const Rule rule = ClassifyOrder(b.min_end_op, f.max_start_op);
      const bool f_read = f.max_start_op && f.max_start_op->type == OpType::kRead;
      return Violation(
          token, rule,
          fmt::format("{} {} {} although {} ({}) had finished before it started, and {} came "
                      "after {} ({})",
                      Describe(f.max_start_op), f_read ? "returned" : "wrote",
                      history.DescribeValue(f.value), Describe(b.min_end_op),
                      history.DescribeValue(b.value), history.DescribeValue(b.value),
                      history.DescribeValue(f.value),
                      f.min_end_op ? fmt::format("{} finished before {} started",
                                                 Describe(f.min_end_op), Describe(b.max_start_op))
                                   : std::string("every written value comes after it")),
          {f.min_end_op, f.max_start_op, b.min_end_op, b.max_start_op});
    }
  }
  return std::nullopt;
}

}  // namespace

TokenVerdict CheckZones(const History& history, const TokenHistory& token) {
  std::vector<Cluster> clusters;
  if (auto violation = BuildClusters(history, token, &clusters)) return *std::move(violation);

  std::vector<const Cluster*> forward;
  std::vector<const Cluster*> backward;
  for (const Cluster& c : clusters) {
    // An unfinished write nobody read may never have taken effect: it constrains nothing.
    if (c.write && c.write->outcome == Outcome::kInfo && c.reads == 0) continue;
    (c.forward() ? forward : backward).push_back(&c);
  }
  std::sort(forward.begin(), forward.end(),
            [](const Cluster* a, const Cluster* b) { return a->min_end < b->min_end; });

  if (auto violation = CheckForwardZonesDisjoint(history, token, forward)) {
    return *std::move(violation);
  }
  if (auto violation = CheckBackwardZonesOutside(history, token, forward, backward)) {
    return *std::move(violation);
  }
  return Ok(token);
}

namespace {

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

}  // namespace

namespace {

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
  // Ok writes in completion order, with the two latest-invoked of distinct values so far.
  struct Best {
    std::int64_t end;
    const Operation* top;
    const Operation* other;  // latest-invoked with a value other than top's
  };
  std::vector<Best> prefix;
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
                                [](const Best& b, std::int64_t t) { return b.end < t; });
    if (end == prefix.begin()) continue;
    const Best& b = *(end - 1);
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

bool VersionsApply(const TokenHistory& token) {
  std::unordered_set<std::uint64_t> write_versions;
  for (const Operation& op : token.ops) {
    if (op.type == OpType::kCas) return false;
    if (op.outcome != Outcome::kOk) continue;
    if (!op.has_version) return false;
    if (op.type == OpType::kWrite && !write_versions.insert(op.version).second) return false;
  }
  return true;
}

namespace {

struct PairHash {
  std::size_t operator()(const std::pair<ValueId, std::uint64_t>& k) const {
    return std::hash<std::uint64_t>()(k.second * 0x9E3779B97F4A7C15ULL ^
                                      static_cast<std::uint64_t>(k.first + 2));
  }
};

// The token's history with every written value renamed (value, version): ok writes by their
// version, reads by the version they returned, unfinished writes (which carry no version)
// matched to the (value, version) pairs that reads returned and no ok write wrote, failed
// writes to names of their own. The values table holds only the new names.
struct Relabelled {
  History history;
  TokenHistory token;
};

Relabelled RelabelByVersions(const History& history, const TokenHistory& token) {
  Relabelled out;
  out.token.token = token.token;
  out.token.ops = token.ops;
  out.token.completed = token.completed;
  std::vector<Operation>& ops = out.token.ops;
  std::unordered_map<std::pair<ValueId, std::uint64_t>, ValueId, PairHash> ids;
  auto fresh = [&out](std::string name) {
    out.history.values.push_back(std::move(name));
    return static_cast<ValueId>(out.history.values.size() - 1);
  };
  auto intern = [&](ValueId v, std::uint64_t version) {
    auto [it, inserted] = ids.emplace(std::make_pair(v, version), 0);
    if (inserted) {
      it->second = fresh(fmt::format("{} (version {})", history.DescribeValue(v), version));
    }
    return it->second;
  };
  std::unordered_set<ValueId> written;  // new ids an ok write wrote
  for (Operation& op : ops) {
    if (op.type != OpType::kWrite) continue;
    if (op.outcome == Outcome::kOk) {
      op.value = intern(op.value, op.version);
      written.insert(op.value);
    }
  }
  // Read classes no ok write explains: (old value, version) -> earliest completion.
  struct Class {
    ValueId original;
    std::uint64_t version;
    ValueId id;
    std::int64_t first_end;
  };
  std::vector<Class> classes;
  std::unordered_map<ValueId, std::size_t> class_of;
  for (Operation& op : ops) {
    if (op.type != OpType::kRead || op.outcome != Outcome::kOk) continue;
    const ValueId original = op.value;
    if (original == kInitialValue && op.version == 0) continue;
    op.value = intern(original, op.version);
    if (written.count(op.value)) continue;
    auto [it, inserted] = class_of.emplace(op.value, classes.size());
    if (inserted) classes.push_back({original, op.version, op.value, op.complete_time});
    Class& c = classes[it->second];
    c.first_end = std::min(c.first_end, op.complete_time);
  }
  // Unfinished writes per original value, in invocation order, with the highest version of
  // an ok operation finished before each was invoked (its version must be higher).
  std::unordered_map<ValueId, std::vector<std::size_t>> info_writes;
  std::vector<std::uint64_t> floor(ops.size(), 0);
  {
    std::size_t done = 0;
    std::uint64_t high = 0;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      while (done < token.completed.size() &&
             ops[token.completed[done]].complete_time < ops[i].invoke_time) {
        const Operation& c = ops[token.completed[done++]];
        if (c.outcome == Outcome::kOk && c.has_version) high = std::max(high, c.version);
      }
      floor[i] = high;
      if (ops[i].type == OpType::kWrite && ops[i].outcome == Outcome::kInfo) {
        info_writes[ops[i].value].push_back(i);
      }
    }
  }
  // Each class takes the earliest free unfinished write of its value that it may have read
  // (invoked before the class's first read finished, with a lower floor). The candidates of
  // a class are a prefix of the list (both bounds grow along it), so serving the classes
  // with the shortest prefix first matches whenever a matching exists.
  std::unordered_map<std::size_t, ValueId> assigned;  // op index -> class id
  {
    std::vector<std::pair<std::size_t, std::size_t>> by_reach;  // (prefix length, class)
    for (std::size_t c = 0; c < classes.size(); ++c) {
      auto it = info_writes.find(classes[c].original);
      if (it == info_writes.end()) continue;
      std::size_t reach = 0;
      while (reach < it->second.size() &&
             ops[it->second[reach]].invoke_time <= classes[c].first_end &&
             floor[it->second[reach]] < classes[c].version) {
        ++reach;
      }
      by_reach.emplace_back(reach, c);
    }
    std::sort(by_reach.begin(), by_reach.end());
    for (auto [reach, c] : by_reach) {
      const std::vector<std::size_t>& list = info_writes[classes[c].original];
      for (std::size_t k = 0; k < reach; ++k) {
        if (assigned.emplace(list[k], classes[c].id).second) break;
      }
    }
  }
  for (std::size_t i = 0; i < ops.size(); ++i) {
    Operation& op = ops[i];
    if (op.type != OpType::kWrite || op.outcome == Outcome::kOk) continue;
    auto it = assigned.find(i);
    if (it != assigned.end()) {
      op.value = it->second;
    } else {
      op.value =
          fresh(fmt::format("{} ({} write at line {})", history.DescribeValue(op.value),
                            op.outcome == Outcome::kFail ? "failed" : "unfinished", op.line()));
    }
  }
  return out;
}

// Why the version order matters beyond linearizable values (for disagreements).
constexpr const char* kVersionPromise =
    "The protocol promises more than values that can be ordered: a read returns the version "
    "of the write it read and versions follow real time; a replica that overwrites a newer "
    "version with an older one breaks that promise even while the values still look "
    "linearizable";

}  // namespace

TokenVerdict CheckByVersions(const History& history, const TokenHistory& token) {
  const Relabelled r = RelabelByVersions(history, token);
  TokenVerdict v = CheckZones(r.history, r.token);
  v.method = Method::kVersions;
  return v;
}

TokenVerdict CheckVersions(const History& history, const TokenHistory& token) {
  TokenVerdict result = Ok(token);
  std::vector<const Operation*> ops;
  std::unordered_map<std::uint64_t, const Operation*> write_of_version;
  for (const Operation& op : token.ops) {
    if (op.outcome != Outcome::kOk || !op.has_version) continue;
    ops.push_back(&op);
    if (op.type == OpType::kWrite) {
      auto [it, inserted] = write_of_version.emplace(op.version, &op);
      if (!inserted) {
        return Violation(token, Rule::kWriteOrder,
                         fmt::format("the writes at lines {} and {} both got version {}",
                                     it->second->line(), op.line(), op.version),
                         {it->second, &op});
      }
    }
  }
  if (ops.empty()) return result;
  result.version_checked = true;

  for (const Operation* op : ops) {
    if (op->type != OpType::kRead) continue;
    if (op->version == 0 && op->value != kInitialValue) {
      return Violation(token, Rule::kValueNeverWritten,
                       fmt::format("the read at line {} returned version 0 with {}, but version 0 "
                                   "is the initial value",
                                   op->line(), history.DescribeValue(op->value)),
                       {op});
    }
    auto it = write_of_version.find(op->version);
    if (it == write_of_version.end()) continue;
    const Operation* w = it->second;
    if (w->value != op->value) {
      return Violation(token, Rule::kValueNeverWritten,
                       fmt::format("the read at line {} returned version {} with {}, but the "
                                   "write of version {} at line {} wrote {}",
                                   op->line(), op->version, history.DescribeValue(op->value),
                                   op->version, w->line(), history.DescribeValue(w->value)),
                       {op, w});
    }
    if (op->complete_time < w->invoke_time) {
      return Violation(token, Rule::kReadFromFuture,
                       fmt::format("the read at line {} returned version {}, whose write at line "
                                   "{} started after the read had finished",
                                   op->line(), op->version, w->line()),
                       {op, w});
    }
  }

  // Sweep in invocation order (the order of `ops`, as the input had it) over the operations
  // in completion order (as the input had it too): both orders come from the file.
  std::vector<const Operation*> by_end;
  by_end.reserve(ops.size());
  for (std::uint32_t i : token.completed) {
    const Operation& op = token.ops[i];
    if (op.outcome == Outcome::kOk && op.has_version) by_end.push_back(&op);
  }
  const std::vector<const Operation*>& by_start = ops;
  const Operation* max_op = nullptr;
  std::size_t e = 0;
  for (const Operation* b : by_start) {
    while (e < by_end.size() && by_end[e]->complete_time < b->invoke_time) {
      const Operation* a = by_end[e++];
      // Prefer a write as the witness on ties: "stale read" names the cause most plainly.
      if (!max_op || a->version > max_op->version ||
          (a->version == max_op->version && a->type == OpType::kWrite)) {
        max_op = a;
      }
    }
    if (!max_op) continue;
    if (b->type == OpType::kRead && b->version < max_op->version) {
      const Rule rule = max_op->type == OpType::kRead ? Rule::kNewOldInversion : Rule::kStaleRead;
      return Violation(token, rule,
                       fmt::format("the read at line {} returned version {} after {} had "
                                   "finished with version {}",
                                   b->line(), b->version, Describe(max_op), max_op->version),
                       {max_op, b});
    }
    if (b->type == OpType::kWrite && b->version <= max_op->version) {
      return Violation(token, Rule::kWriteOrder,
                       fmt::format("the write at line {} got version {} although {} had "
                                   "finished with version {} before it started",
                                   b->line(), b->version, Describe(max_op), max_op->version),
                       {max_op, b});
    }
  }
  return result;
}

TokenVerdict CheckToken(const History& history, const TokenHistory& token,
                        const CheckOptions& options) {
  // Written values unique (failed writes included: a read of such a value is ambiguous)?
  bool unique = true;
  {
    ValueSlots seen(history.values.size());
    for (const Operation& op : token.ops) {
      if (op.type == OpType::kRead) continue;
      if (op.type == OpType::kCas || op.value == kInitialValue || seen.Get(op.value) != -1) {
        unique = false;
        break;
      }
      seen.Set(op.value, 1);
    }
  }
  TokenVerdict v;
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
  TokenVerdict versions = CheckVersions(history, token);
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

Report CheckHistory(const History& history, const CheckOptions& options) {
  Report report;
  for (const TokenHistory& token : history.tokens) {
    report.tokens.push_back(CheckToken(history, token, options));
    report.operations += token.ops.size();
    const Verdict v = report.tokens.back().verdict;
    if (v == Verdict::kViolation) {
      report.overall = Verdict::kViolation;
    } else if (v == Verdict::kCannotDecide && report.overall == Verdict::kLinearizable) {
      report.overall = Verdict::kCannotDecide;
    }
  }
  return report;
}

}  // namespace checker
