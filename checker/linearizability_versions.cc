// Versions (checker/linearizability.h): the zone method on a history relabelled by
// (value, version), and the version order the protocol promises.
#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "checker/linearizability.h"
#include "checker/linearizability_detail.h"

namespace checker {

using lin_detail::Describe;
using lin_detail::Ok;
using lin_detail::Violation;
using lin_detail::WritesByVersion;

bool VersionsApply(const TokenHistory& token) {
  std::size_t writes = 0;
  for (const Operation& op : token.ops) writes += op.type == OpType::kWrite ? 1 : 0;
  WritesByVersion write_versions(token.ops, writes);
  for (const Operation& op : token.ops) {
    if (op.type == OpType::kCas) return false;
    if (op.outcome != Outcome::kOk) continue;
    if (!op.has_version) return false;
    if (op.type == OpType::kWrite && write_versions.Insert(op)) return false;
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

// A class of reads no ok write explains: they returned `original` with `version` (renamed
// `id`), the earliest of them finishing at `first_end`.
struct ReadClass {
  ValueId original;
  std::uint64_t version;
  ValueId id;
  std::int64_t first_end;
};

// The unfinished write each class read, where one may have been (op index -> class id);
// `ops` are the token's operations with ok writes and reads renamed, unfinished writes not.
std::unordered_map<std::size_t, ValueId> MatchUnfinishedWrites(
    const std::vector<Operation>& ops, const TokenHistory& token,
    const std::vector<ReadClass>& classes) {
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
  return assigned;
}

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
  std::vector<ReadClass> classes;
  std::unordered_map<ValueId, std::size_t> class_of;
  for (Operation& op : ops) {
    if (op.type != OpType::kRead || op.outcome != Outcome::kOk) continue;
    const ValueId original = op.value;
    if (original == kInitialValue && op.version == 0) continue;
    op.value = intern(original, op.version);
    if (written.count(op.value)) continue;
    auto [it, inserted] = class_of.emplace(op.value, classes.size());
    if (inserted) classes.push_back({original, op.version, op.value, op.complete_time});
    ReadClass& c = classes[it->second];
    c.first_end = std::min(c.first_end, op.complete_time);
  }
  const std::unordered_map<std::size_t, ValueId> assigned =
      MatchUnfinishedWrites(ops, token, classes);
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

// The operations the version order is about: ok, with a version.
bool Versioned(const Operation& op) { return op.outcome == Outcome::kOk && op.has_version; }

// Each read of version v returned the value written with v, and that write started before
// the read finished (the versioned reads in invocation order).
std::optional<TokenVerdict> CheckReadVersions(const History& history, const TokenHistory& token,
                                              const WritesByVersion& write_of_version) {
  for (const Operation& r : token.ops) {
    if (r.type != OpType::kRead || !Versioned(r)) continue;
    const Operation* op = &r;
    if (op->version == 0 && op->value != kInitialValue) {
      return Violation(token, Rule::kValueNeverWritten,
                       fmt::format("the read at line {} returned version 0 with {}, but version 0 "
                                   "is the initial value",
                                   op->line(), history.DescribeValue(op->value)),
                       {op});
    }
    const Operation* w = write_of_version.Find(op->version);
    if (!w) continue;
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
  return std::nullopt;
}

// No operation that started after another finished has a smaller version, nor a write an
// equal one (among the versioned operations).
std::optional<TokenVerdict> CheckVersionsFollowRealTime(const TokenHistory& token) {
  // Sweep in invocation order (the order of token.ops, as the input had it) over the
  // operations in completion order (token.completed, as the input had it too). Both are
  // walked in place: lists of the versioned operations would be fresh memory, 16 bytes an
  // operation.
  const Operation* max_op = nullptr;
  std::size_t e = 0;
  const std::vector<std::uint32_t>& by_end = token.completed;
  for (const Operation& start : token.ops) {
    if (!Versioned(start)) continue;
    const Operation* b = &start;
    for (; e < by_end.size(); ++e) {
      const Operation* a = &token.ops[by_end[e]];
      if (!Versioned(*a)) continue;
      if (a->complete_time >= b->invoke_time) break;
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
  return std::nullopt;
}

}  // namespace

TokenVerdict CheckByVersions(const History& history, const TokenHistory& token) {
  const Relabelled r = RelabelByVersions(history, token);
  TokenVerdict v = CheckZones(r.history, r.token);
  v.method = Method::kVersions;
  return v;
}

TokenVerdict CheckVersions(const History& history, const TokenHistory& token) {
  TokenVerdict result = Ok(token);
  std::size_t versioned = 0, versioned_writes = 0;
  for (const Operation& op : token.ops) {
    if (!Versioned(op)) continue;
    ++versioned;
    versioned_writes += op.type == OpType::kWrite ? 1 : 0;
  }
  WritesByVersion write_of_version(token.ops, versioned_writes);
  for (const Operation& op : token.ops) {
    if (op.type != OpType::kWrite || !Versioned(op)) continue;
    if (const Operation* first = write_of_version.Insert(op)) {
      return Violation(token, Rule::kWriteOrder,
                       fmt::format("the writes at lines {} and {} both got version {}",
                                   first->line(), op.line(), op.version),
                       {first, &op});
    }
  }
  if (versioned == 0) return result;
  result.version_checked = true;

  if (auto bad = CheckReadVersions(history, token, write_of_version)) return *std::move(bad);
  if (auto bad = CheckVersionsFollowRealTime(token)) return *std::move(bad);
  return result;
}

}  // namespace checker
