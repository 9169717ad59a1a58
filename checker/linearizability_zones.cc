// The zone method (Gibbons-Korach) for histories whose written values are unique
// (checker/linearizability.h).
#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "checker/linearizability.h"
#include "checker/linearizability_detail.h"
#include "checker/prefault.h"

namespace checker {
namespace {

using lin_detail::Describe;
using lin_detail::kBeforeEverything;
using lin_detail::Ok;
using lin_detail::ValueSlots;
using lin_detail::Violation;

// One value's cluster: 40 bytes (operations named by their index in the token, 4 bytes
// instead of a pointer's 8: a cluster per written value makes this the check's biggest
// array, and fresh memory costs a page fault per 2 MiB; docs/CHECKER.md, "Speed").
struct Cluster {
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};  // no operation

  // The write's invoke_time (kBeforeEverything without a write): kept here, so the reads'
  // checks do not load the write (a cache miss each on a big token).
  std::int64_t write_invoke = kBeforeEverything;
  // Zone ends: the earliest completion and the latest invocation, with their operations.
  std::int64_t min_end = kNever;
  std::int64_t max_start = kBeforeEverything;
  std::uint32_t write = kNone;  // kNone: the initial value's virtual write
  std::uint32_t min_end_op = kNone;
  std::uint32_t max_start_op = kNone;
  bool read = false;              // some ok read returned the value
  bool unfinished_write = false;  // the write's outcome is kInfo

  void Add(std::uint32_t op, std::int64_t start, std::int64_t end) {
    if (end < min_end || (end == min_end && min_end_op == kNone)) {
      min_end = end;
      min_end_op = op;
    }
    if (start > max_start || (start == max_start && max_start_op == kNone)) {
      max_start = start;
      max_start_op = op;
    }
  }
  bool forward() const { return min_end < max_start; }
};

static_assert(sizeof(Cluster) == 40);

// A cluster as a violation's message names it: its zone's end operations and its value.
struct Named {
  const Operation* min_end;
  const Operation* max_start;
  std::string value;
};

Named Name(const History& history, const TokenHistory& token, const Cluster& c) {
  const auto op = [&token](std::uint32_t i) {
    return i == Cluster::kNone ? nullptr : &token.ops[i];
  };
  return {
      op(c.min_end_op), op(c.max_start_op),
      history.DescribeValue(c.write == Cluster::kNone ? kInitialValue : token.ops[c.write].value)};
}

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

// From this size on, the clusters' pages are faulted in on a thread of their own. Measured
// again at 00b2829 (tokencheck --stats, 3 runs each): 10M operations' check took 368-378
// ms with it and 356-363 ms without; 1M operations (20 MB of clusters) with the line at 16
// MiB, 1.01x the wall time (bench/check_speed.sh, 11 runs). Its gain (780 -> 408-634 ms
// when it came, 12b44db) is gone: the array's pages now mostly come from the reader's
// freed tables, which malloc keeps (the trim threshold), already faulted in. A candidate
// for removal; kept until a run on a machine where fresh pages cost more says so.
constexpr std::size_t kPrefaultBytes = std::size_t{64} << 20;

// One cluster per value written (the initial value first), each holding its write and the
// reads that returned it; a read of a value no write wrote, or of one whose write started
// after the read finished, is a violation.
std::optional<TokenVerdict> BuildClusters(const History& history, const TokenHistory& token,
                                          std::vector<Cluster>* clusters) {
  // Sized once: a cluster per write at most (growing would copy them and touch fresh pages).
  std::size_t writes = 0;
  for (const Operation& op : token.ops) writes += op.type == OpType::kWrite ? 1 : 0;
  clusters->reserve(writes + 1);
  // A big array's pages are faulted in from its back on a thread of its own while this one
  // fills it from the front: the kernel clearing them was 45% of the check's samples on
  // 10M operations, where the version order's thread leaves a core idle at the end.
  internal::Prefaulter prefaulter;  // stopped (and joined) when this function returns
  if (clusters->capacity() * sizeof(Cluster) >= kPrefaultBytes) {
    prefaulter.Start(clusters->data(), clusters->data(), clusters->capacity() * sizeof(Cluster),
                     internal::Prefaulter::From::kBack);
  }
  clusters->assign(1, Cluster{});  // [0]: the initial value
  (*clusters)[0].Add(Cluster::kNone, kBeforeEverything, kBeforeEverything);
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
    const auto index = static_cast<std::uint32_t>(&op - token.ops.data());
    Cluster& c = clusters->emplace_back();
    c.write = index;
    c.write_invoke = op.invoke_time;
    c.unfinished_write = op.outcome == Outcome::kInfo;
    c.Add(index, op.invoke_time, op.complete_time);  // kNever for an info write
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
    if (op.complete_time < c.write_invoke) {
      return Violation(
          token, Rule::kReadFromFuture,
          fmt::format("the read at line {} returned {}, but the write of that value "
                      "at line {} started after the read had finished",
                      op.line(), history.DescribeValue(op.value), token.ops[c.write].line()),
          {&op, &token.ops[c.write]});
    }
    c.read = true;
    c.Add(static_cast<std::uint32_t>(&op - token.ops.data()), op.invoke_time, op.complete_time);
  }
  return std::nullopt;
}

// Forward zones must not overlap. `forward` is sorted by start (min_end), so an overlap
// shows between neighbours.
std::optional<TokenVerdict> CheckForwardZonesDisjoint(const History& history,
                                                      const TokenHistory& token,
                                                      const std::vector<Cluster>& clusters,
                                                      const std::vector<std::uint32_t>& forward) {
  for (std::size_t i = 1; i < forward.size(); ++i) {
    const Cluster& a = clusters[forward[i - 1]];
    const Cluster& b = clusters[forward[i]];
    if (b.min_end < a.max_start) {
      // b's earliest-finishing op finished before a's latest-starting op started, and a's
      // earliest-finishing op finished before b's latest-starting op started: each value
      // would have to come after the other.
      const Named an = Name(history, token, a);
      const Named bn = Name(history, token, b);
      return Violation(
          token, ClassifyOrder(bn.min_end, an.max_start),
          fmt::format("{} ({}) started after {} ({}) had finished, so {} came after {}; but {} "
                      "({}) started after {} ({}) had finished, so {} came after {}",
                      Describe(an.max_start), an.value, Describe(bn.min_end), bn.value, an.value,
                      bn.value, Describe(bn.max_start), bn.value, Describe(an.min_end), an.value,
                      bn.value, an.value),
          {an.min_end, an.max_start, bn.min_end, bn.max_start});
    }
  }
  return std::nullopt;
}

// No backward zone may lie strictly inside a forward zone (`forward` sorted by start).
// Both lists hold indices into `clusters`.
std::optional<TokenVerdict> CheckBackwardZonesOutside(const History& history,
                                                      const TokenHistory& token,
                                                      const std::vector<Cluster>& clusters,
                                                      const std::vector<std::uint32_t>& forward,
                                                      const std::vector<std::uint32_t>& backward) {
  for (const std::uint32_t bi : backward) {
    const Cluster& b = clusters[bi];
    // The last forward zone starting before b's zone starts (at b.max_start).
    auto it = std::lower_bound(
        forward.begin(), forward.end(), b.max_start,
        [&clusters](std::uint32_t f, std::int64_t start) { return clusters[f].min_end < start; });
    if (it == forward.begin()) continue;
    const Cluster& f = clusters[*(it - 1)];
    if (b.min_end < f.max_start) {
      const Named fn = Name(history, token, f);
      const Named bn = Name(history, token, b);
      const bool f_read = fn.max_start && fn.max_start->type == OpType::kRead;
      return Violation(
          token, ClassifyOrder(bn.min_end, fn.max_start),
          fmt::format("{} {} {} although {} ({}) had finished before it started, and {} came "
                      "after {} ({})",
                      Describe(fn.max_start), f_read ? "returned" : "wrote", fn.value,
                      Describe(bn.min_end), bn.value, bn.value, fn.value,
                      fn.min_end ? fmt::format("{} finished before {} started",
                                               Describe(fn.min_end), Describe(bn.max_start))
                                 : std::string("every written value comes after it")),
          {fn.min_end, fn.max_start, bn.min_end, bn.max_start});
    }
  }
  return std::nullopt;
}

}  // namespace

TokenVerdict CheckZones(const History& history, const TokenHistory& token) {
  std::vector<Cluster> clusters;
  if (auto violation = BuildClusters(history, token, &clusters)) return *std::move(violation);

  // The clusters by kind, as 4-byte indices in lists sized exactly (a pointer each, and a
  // list grown by doubling, were 40 MB more of fresh memory on 10M operations).
  // An unfinished write nobody read may never have taken effect: it constrains nothing.
  const auto counts = [](const Cluster& c) { return !(c.unfinished_write && !c.read); };
  std::size_t forward_count = 0, backward_count = 0;
  for (const Cluster& c : clusters) {
    if (counts(c)) ++(c.forward() ? forward_count : backward_count);
  }
  std::vector<std::uint32_t> forward;
  std::vector<std::uint32_t> backward;
  forward.reserve(forward_count);
  backward.reserve(backward_count);
  for (std::size_t i = 0; i < clusters.size(); ++i) {
    const Cluster& c = clusters[i];
    if (counts(c)) (c.forward() ? forward : backward).push_back(static_cast<std::uint32_t>(i));
  }
  std::sort(forward.begin(), forward.end(), [&clusters](std::uint32_t a, std::uint32_t b) {
    return clusters[a].min_end < clusters[b].min_end;
  });

  if (auto violation = CheckForwardZonesDisjoint(history, token, clusters, forward)) {
    return *std::move(violation);
  }
  if (auto violation = CheckBackwardZonesOutside(history, token, clusters, forward, backward)) {
    return *std::move(violation);
  }
  return Ok(token);
}

}  // namespace checker
