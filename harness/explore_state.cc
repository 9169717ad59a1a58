// The explorer's fingerprints (harness/explore_state.h): a state's, under the renamings
// symmetry allows, and a step's name in a sleep set.
#include <algorithm>
#include <map>
#include <numeric>

#include "harness/explore_state.h"

namespace tokensim::explore_detail {

bool Independent(const ExploreStep& u, NodeIndex u_node, const ExploreStep& t, NodeIndex t_node) {
  auto local = [](Kind k) {
    return k == Kind::kDeliver || k == Kind::kCompute || k == Kind::kSync || k == Kind::kCrash;
  };
  return local(u.kind) && local(t.kind) && u_node != t_node;
}

std::uint64_t StepKey(const State& s, const ExploreStep& t, NodeRename rename) {
  StateHasher h;
  h.Add(static_cast<std::uint64_t>(t.kind));
  auto node = [&](std::uint64_t n) {
    return StateHasher::Renamed(rename, static_cast<NodeIndex>(n));
  };
  switch (t.kind) {
    case Kind::kDeliver:
      for (const Msg& m : s.net) {
        if (m.m.from != t.a || m.n != t.b) continue;
        m.HashInto(h, rename);
      }
      break;
    case Kind::kInvoke:
      h.Add(t.a);
      h.Add(node(t.b));
      break;
    case Kind::kGiveUp:
      h.Add(t.a);
      break;
    case Kind::kCompute:
    case Kind::kSync:
    case Kind::kCrash:
    case Kind::kRestart:
      h.Add(node(t.a));
      h.Add(t.b);
      break;
  }
  return (static_cast<std::uint64_t>(t.kind) << 56) | (h.low() >> 8);
}

Fp Explorer::FingerprintRenamed(const State& s, NodeRename rename) const {
  StateHasher h;
  // Nodes in renamed order.
  std::vector<NodeIndex> order(s.nodes.size());
  for (NodeIndex n = 0; n < s.nodes.size(); ++n) order[StateHasher::Renamed(rename, n)] = n;
  for (const NodeIndex n : order) {
    const Fp f = s.nodes[n]->HashUnder(rename);
    h.Add(f.lo);
    h.Add(f.hi);
  }
  // Messages in flight: a multiset (sum of per-message hashes), or per-link sequences.
  std::uint64_t sum_lo = 0;
  std::uint64_t sum_hi = 0;
  for (const Msg& m : s.net) {
    StateHasher mh;
    m.HashInto(mh, rename);
    if (c_.fifo) {
      std::uint64_t rank = 0;
      for (const Msg& o : s.net) {
        rank += o.m.from == m.m.from && o.m.to == m.m.to && o.n < m.n ? 1 : 0;
      }
      mh.Add(rank);
    }
    sum_lo += mh.low();
    sum_hi += mh.high();
  }
  h.Add(s.net.size());
  h.Add(sum_lo);
  h.Add(sum_hi);
  for (const Client& cl : s.clients) {
    h.Add((std::uint64_t{cl.next} << 1) | static_cast<std::uint64_t>(cl.busy));
    h.Add(cl.call);
  }
  for (const OpRec& r : s.ops) {
    h.Add((static_cast<std::uint64_t>(r.status) << 32) | StateHasher::Renamed(rename, r.node));
    h.Add(r.before);
    h.Add(r.version);
    h.Add(r.value);
  }
  h.Add((std::uint64_t{s.crashes} << 32) | s.restarts);
  return Fp{h.low(), h.high()};
}

// With symmetry: the least fingerprint over the renamings that sort each class of
// interchangeable nodes by what they hold (their state, their messages and operations, all
// hashed with the class's members made one). Two states that differ by a renaming sort
// alike; members that tie are tried in every order.
Fp Explorer::Fingerprint(const State& s, std::vector<NodeIndex>* chosen) const {
  chosen->clear();
  if (groups_.empty()) return FingerprintRenamed(s, {});
  std::vector<std::uint64_t> key(s.nodes.size(), 0);
  for (const auto& g : groups_) {
    for (const NodeIndex n : g) key[n] = s.nodes[n]->HashUnder(anonymous_).lo;
  }
  for (const Msg& m : s.net) {
    StateHasher h;
    m.HashInto(h, anonymous_);
    key[m.m.from] += h.low();
    key[m.m.to] += h.high();
  }
  for (std::size_t i = 0; i < s.ops.size(); ++i) {
    if (s.ops[i].status == OpRec::kNotInvoked) continue;
    StateHasher h;
    h.Add(i);
    h.Add(static_cast<std::uint64_t>(s.ops[i].status));
    key[s.ops[i].node] += h.low();
  }
  // Each class sorted by key; runs of equal keys are the ties.
  std::vector<NodeIndex> rename(s.nodes.size());
  std::iota(rename.begin(), rename.end(), NodeIndex{0});
  std::vector<std::vector<NodeIndex>> ties;
  for (const auto& g : groups_) {
    std::vector<NodeIndex> members = g;
    std::stable_sort(members.begin(), members.end(),
                     [&](NodeIndex a, NodeIndex b) { return key[a] < key[b]; });
    for (std::size_t j = 0; j < members.size(); ++j) rename[members[j]] = g[j];
    for (std::size_t j = 0; j < members.size();) {
      std::size_t e = j + 1;
      while (e < members.size() && key[members[e]] == key[members[j]]) ++e;
      if (e - j > 1) ties.emplace_back(members.begin() + j, members.end() - (members.size() - e));
      j = e;
    }
  }
  Fp best = FingerprintRenamed(s, rename);
  *chosen = rename;
  // Tied members: every order of each run (their targets stay the run's slots).
  std::vector<std::vector<NodeIndex>> orders;
  for (const auto& t : ties) {
    std::vector<NodeIndex> slots;
    for (const NodeIndex n : t) slots.push_back(rename[n]);
    std::sort(slots.begin(), slots.end());
    orders.push_back(slots);
  }
  if (ties.empty()) return best;
  // (A state with an automorphism keeps the first renaming that reaches its least print.)
  std::vector<std::vector<NodeIndex>> perms = orders;
  for (;;) {
    // Advance the odometer of permutations, one run at a time.
    std::size_t k = 0;
    while (k < perms.size() && !std::next_permutation(perms[k].begin(), perms[k].end())) ++k;
    if (k == perms.size()) break;
    std::vector<NodeIndex> r = rename;
    for (std::size_t t = 0; t < ties.size(); ++t) {
      for (std::size_t j = 0; j < ties[t].size(); ++j) r[ties[t][j]] = perms[t][j];
    }
    const Fp f = FingerprintRenamed(s, r);
    if (f < best) {
      best = f;
      *chosen = std::move(r);
    }
  }
  return best;
}

// Nodes that play the same roles in every token and that no operation names can be
// swapped: every permutation within such classes (the identity excluded).
void Explorer::BuildSymmetry() {
  const std::size_t n = scheme_.nodes().size();
  std::vector<bool> pinned(n, false);
  for (const auto& p : c_.processes) {
    for (const ExploreOp& op : p) {
      if (op.node) pinned[*op.node] = true;
    }
  }
  std::map<std::vector<std::uint8_t>, std::vector<NodeIndex>> classes;
  for (NodeIndex i = 0; i < n; ++i) {
    if (pinned[i]) continue;
    std::vector<std::uint8_t> roles;
    for (const auto& t : scheme_.tokens()) {
      roles.push_back(static_cast<std::uint8_t>((t.writer == i ? 4 : 0) | (t.IsReader(i) ? 2 : 0) |
                                                (t.IsReplica(i) ? 1 : 0)));
    }
    classes[roles].push_back(i);
  }
  anonymous_.resize(n);
  std::iota(anonymous_.begin(), anonymous_.end(), NodeIndex{0});
  for (auto& [roles, members] : classes) {
    if (members.size() < 2) continue;
    groups_.push_back(members);
    for (const NodeIndex m : members) anonymous_[m] = members.front();
  }
}

}  // namespace tokensim::explore_detail
