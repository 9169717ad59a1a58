// The explorer's fingerprints (harness/explore_state.h): a state's, under the renamings
// symmetry allows, and a step's name in a sleep set.
#include <algorithm>
#include <array>
#include <bit>
#include <map>
#include <numeric>
#include <ranges>

#include "harness/explore_state.h"

namespace tokensim::explore_detail {

bool Independent(const Taken& u, const Taken& t) {
  if (u.node == t.node) return false;
  auto local = [](Kind k) {
    return k == Kind::kDeliver || k == Kind::kCompute || k == Kind::kSync || k == Kind::kCrash;
  };
  const bool u_invoke = u.step.kind == Kind::kInvoke;
  const bool t_invoke = t.step.kind == Kind::kInvoke;
  if (local(u.step.kind) && local(t.step.kind)) return true;
  if (u_invoke && t_invoke) return true;
  if (u_invoke && local(t.step.kind)) return t.quiet;
  if (t_invoke && local(u.step.kind)) return u.quiet;
  return false;
}

std::uint64_t StepKey(const State& s, const ExploreStep& t, const Renaming& renaming) {
  const NodeRename rename = renaming.nodes();
  auto node = [&](std::uint64_t n) {
    return std::uint64_t{StateHasher::Renamed(rename, static_cast<NodeIndex>(n))};
  };
  // A few mixes of what the step does (StateHasher's finalizer): a key is made for every
  // enabled step of every state expanded and for every step put to sleep.
  constexpr std::uint64_t kA = 0x9E3779B97F4A7C15ULL;
  constexpr std::uint64_t kB = 0xBF58476D1CE4E5B9ULL;
  std::uint64_t x = static_cast<std::uint64_t>(t.kind) * kA;
  switch (t.kind) {
    case Kind::kDeliver:
      for (const Msg& m : s.net) {
        if (m.m.from != t.a || m.n != t.b) continue;
        const std::uint64_t link =
            (static_cast<std::uint64_t>(m.m.type) << 48) ^ (node(m.m.from) << 24) ^ node(m.m.to);
        x = StateHasher::Mix(x ^ m.content.lo ^ StateHasher::Mix(m.content.hi + link * kA, kB), kA);
        break;
      }
      break;
    case Kind::kInvoke:
      x = StateHasher::Mix(x ^ (std::uint64_t{renaming.Process(t.a)} << 32) ^ node(t.b), kB);
      break;
    case Kind::kGiveUp:
      x = StateHasher::Mix(x ^ renaming.Process(t.a), kB);
      break;
    case Kind::kCompute:
    case Kind::kSync:
    case Kind::kCrash:
    case Kind::kRestart:
      x = StateHasher::Mix(x ^ (node(t.a) << 32) ^ t.b, kB);
      break;
  }
  return (static_cast<std::uint64_t>(t.kind) << 56) | (x >> 8);
}

namespace {

// Room for `n` values without allocating when n is small (fingerprints run once a state).
template <typename T>
class Scratch {
 public:
  explicit Scratch(std::size_t n)
      : data_(n <= kSmall ? small_.data() : (big_.resize(n), big_.data())) {}
  T& operator[](std::size_t i) { return data_[i]; }

 private:
  static constexpr std::size_t kSmall = 64;
  std::array<T, kSmall> small_;
  std::vector<T> big_;
  T* data_;
};

}  // namespace

Fp Explorer::FingerprintRenamed(const State& s, const Renaming& renaming) const {
  return NodesPart(s, renaming, RestPart(s, renaming));
}

// Everything but the nodes' own states: the messages in flight, the clients and what they
// saw, the fault counts (cheap: no node is hashed).
Fp Explorer::RestPart(const State& s, const Renaming& renaming) const {
  StateHasher h;
  const NodeRename rename = renaming.nodes();
  const Symmetry* sym = renaming.sym;
  if (sym) h.MapCalls(sym->calls);
  // Messages in flight: a multiset (sum of per-message hashes), or per-link sequences.
  std::uint64_t sum_lo = 0;
  std::uint64_t sum_hi = 0;
  for (const Msg& m : s.net) {
    if (!c_.fifo) {
      m.AddTo(sum_lo, sum_hi, rename);
      continue;
    }
    StateHasher mh;
    m.HashInto(mh, rename);
    std::uint64_t rank = 0;
    for (const Msg& o : s.net) {
      rank += o.m.from == m.m.from && o.m.to == m.m.to && o.n < m.n ? 1 : 0;
    }
    mh.Add(rank);
    sum_lo += mh.low();
    sum_hi += mh.high();
  }
  h.Add(s.net.size());
  h.Add(sum_lo);
  h.Add(sum_hi);
  // Clients and operations in renamed order (a process's image takes its place).
  const std::size_t procs = s.clients.size();
  Scratch<std::uint32_t> proc_at(procs);
  for (std::uint32_t p = 0; p < procs; ++p) proc_at[renaming.Process(p)] = p;
  for (std::size_t q = 0; q < procs; ++q) {
    const Client& cl = s.clients[proc_at[q]];
    h.Add((std::uint64_t{cl.next} << 1) | static_cast<std::uint64_t>(cl.busy));
    h.AddCall(cl.call);
  }
  const Fp ops = CachedOpsPart(s, renaming);
  h.Add(ops.lo);
  h.Add(ops.hi);
  h.Add((std::uint64_t{s.crashes} << 32) | s.restarts);
  return Fp{h.low(), h.high()};
}

// The records' part, cached with them under the group's elements and the identity.
Fp Explorer::CachedOpsPart(const State& s, const Renaming& renaming) const {
  if (s.ops.size() == 0) return Fp{};
  if (renaming.sym == nullptr && !renaming.own.empty()) return OpsPart(s, renaming);
  return s.ops.HashAs(renaming.sym ? renaming.element : OpRecs::kIdentitySlot,
                      [&] { return OpsPart(s, renaming); });
}

// The operations' records in renamed order (a process's image takes its place).
Fp Explorer::OpsPart(const State& s, const Renaming& renaming) const {
  StateHasher h;
  const NodeRename rename = renaming.nodes();
  const Symmetry* sym = renaming.sym;
  const auto hash_op = [&](const OpRec& r) {
    // An operation not invoked yet has no node (its 0 is no node 0: not renamed).
    const std::uint64_t node =
        r.status == OpRec::kNotInvoked ? 0 : StateHasher::Renamed(rename, r.node);
    h.Add((static_cast<std::uint64_t>(r.status) << 32) | node);
    std::uint64_t before = r.before;
    if (sym) {
      before = 0;
      for (std::uint64_t b = r.before; b != 0; b &= b - 1) {
        before |= std::uint64_t{1} << sym->ops[static_cast<std::size_t>(std::countr_zero(b))];
      }
    }
    h.Add(before);
    h.Add(r.value_hash);
  };
  if (sym) {
    Scratch<std::uint32_t> op_at(s.ops.size());
    for (std::uint32_t i = 0; i < s.ops.size(); ++i) op_at[sym->ops[i]] = i;
    for (std::size_t i = 0; i < s.ops.size(); ++i) hash_op(s.ops[op_at[i]]);
  } else {
    for (const OpRec& r : s.ops) hash_op(r);
  }
  return Fp{h.low(), h.high()};
}

// `rest` (RestPart) with the nodes' states, in renamed order.
Fp Explorer::NodesPart(const State& s, const Renaming& renaming, Fp rest) const {
  StateHasher h;
  h.Add(rest.lo);
  h.Add(rest.hi);
  const NodeRename rename = renaming.nodes();
  const std::size_t nodes = s.nodes.size();
  Scratch<NodeIndex> order(nodes);
  for (NodeIndex n = 0; n < nodes; ++n) order[StateHasher::Renamed(rename, n)] = n;
  for (std::size_t i = 0; i < nodes; ++i) {
    const ExNode& node = *s.nodes[order[i]];
    const Fp f = renaming.sym ? node.HashAs(renaming.element, rename, renaming.sym->calls)
                              : node.HashUnder(rename);
    h.Add(f.lo);
    h.Add(f.hi);
  }
  return Fp{h.low(), h.high()};
}

std::uint64_t Explorer::Pack(const Renaming& r) {
  if (r.sym) return (std::uint64_t{1} << 63) | r.element;
  std::uint64_t packed = 0;
  for (std::size_t n = 0; n < r.own.size() && n < 16; ++n) {
    packed |= std::uint64_t{r.own[n]} << (4 * n);
  }
  return packed;
}

void Explorer::Unpack(std::uint64_t packed, std::size_t nodes, Renaming* r) const {
  r->sym = nullptr;
  r->element = 0;
  r->own.clear();
  if (!group_.empty()) {
    r->element = static_cast<std::size_t>(packed & ~(std::uint64_t{1} << 63));
    r->sym = &group_[r->element];
    return;
  }
  if (groups_.empty()) return;
  for (std::size_t n = 0; n < nodes; ++n) {
    r->own.push_back(static_cast<NodeIndex>((packed >> (4 * n)) & 15));
  }
}

// With symmetry: the least fingerprint over the renamings that sort each class of
// interchangeable nodes by what they hold (their state, their messages and operations, all
// hashed with the class's members made one). Two states that differ by a renaming sort
// alike; members that tie are tried in every order.
Fp Explorer::Fingerprint(const State& s, Renaming* chosen) const {
  chosen->own.clear();
  chosen->sym = nullptr;
  chosen->element = 0;
  if (!group_.empty()) {
    // The least over the whole group of (the cheap part, the whole): the nodes are hashed
    // only under the elements that tie for the least cheap part (a state and its renamings
    // have the same pairs, so they choose alike). The identity first; a state with an
    // automorphism keeps the first element that reaches its least print.
    // The cheap part is itself chosen in two steps: the records (kept with them, so
    // mostly not computed again), then the messages and clients of the elements that tie.
    const std::size_t size = group_.size();
    Scratch<Fp> ops(size);
    std::size_t least_ops = 0;
    for (std::size_t e = 0; e < size; ++e) {
      ops[e] = CachedOpsPart(s, Renaming{{}, &group_[e], e});
      if (ops[e] < ops[least_ops]) least_ops = e;
    }
    Scratch<Fp> rest(size);
    std::size_t least = least_ops;
    for (std::size_t e = 0; e < size; ++e) {
      if (!(ops[e] == ops[least_ops])) continue;
      rest[e] = RestPart(s, Renaming{{}, &group_[e], e});
      if (rest[e] < rest[least]) least = e;
    }
    Fp best;
    bool any = false;
    for (std::size_t e = 0; e < size; ++e) {
      if (!(ops[e] == ops[least_ops]) || !(rest[e] == rest[least])) continue;
      const Fp f = NodesPart(s, Renaming{{}, &group_[e], e}, rest[e]);
      if (!any || f < best) {
        best = f;
        chosen->element = e;
        any = true;
      }
    }
    chosen->sym = &group_[chosen->element];
    return best;
  }
  if (groups_.empty()) return FingerprintRenamed(s, Renaming{});
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
  Fp best = FingerprintRenamed(s, Renaming{rename});
  chosen->own = rename;
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
    const Fp f = FingerprintRenamed(s, Renaming{r});
    if (f < best) {
      best = f;
      chosen->own = std::move(r);
    }
  }
  return best;
}

// Nodes that play the same roles in every token and that no operation names can be
// swapped: every permutation within such classes (the identity excluded).
std::map<std::vector<std::uint8_t>, std::vector<NodeIndex>> Explorer::RoleClasses(
    const std::vector<bool>& skip) const {
  std::map<std::vector<std::uint8_t>, std::vector<NodeIndex>> classes;
  for (NodeIndex i = 0; i < scheme_.nodes().size(); ++i) {
    if (skip[i]) continue;
    std::vector<std::uint8_t> roles;
    for (const auto& t : scheme_.tokens()) {
      roles.push_back(static_cast<std::uint8_t>((t.writer == i ? 4 : 0) | (t.IsReader(i) ? 2 : 0) |
                                                (t.IsReplica(i) ? 1 : 0)));
    }
    classes[roles].push_back(i);
  }
  return classes;
}

void Explorer::BuildSymmetry() {
  const std::size_t n = scheme_.nodes().size();
  std::vector<bool> pinned(n, false);
  for (const auto& p : c_.processes) {
    for (const ExploreOp& op : p) {
      if (op.node) pinned[*op.node] = true;
    }
  }
  const auto classes = RoleClasses(pinned);
  anonymous_.resize(n);
  std::iota(anonymous_.begin(), anonymous_.end(), NodeIndex{0});
  for (auto& [roles, members] : classes) {
    if (members.size() < 2) continue;
    groups_.push_back(members);
    for (const NodeIndex m : members) anonymous_[m] = members.front();
  }
  BuildGroup();
  if (!group_.empty()) groups_.clear();
}

// The symmetries that move processes as well as nodes: every renaming of nodes within
// their classes of roles (named by operations or not) with every renaming of processes
// that maps each process's operations onto another's under it. Kept when some element moves
// a process and the group has at most 16 elements (each state is fingerprinted under each).
void Explorer::BuildGroup() {
  const std::size_t n = scheme_.nodes().size();
  const std::size_t procs = c_.processes.size();
  const auto classes = RoleClasses(std::vector<bool>(n, false));
  constexpr std::size_t kMaxElements = 16;
  // Every node renaming within the classes (an odometer over each class's permutations).
  std::vector<std::vector<NodeIndex>> perms;
  for (const auto& [roles, members] : classes) perms.push_back(members);
  std::vector<std::vector<NodeIndex>> node_maps;
  for (;;) {
    std::vector<NodeIndex> map(n);
    std::size_t k = 0;
    for (const auto& [roles, members] : classes) {
      for (std::size_t j = 0; j < members.size(); ++j) map[members[j]] = perms[k][j];
      ++k;
    }
    node_maps.push_back(std::move(map));
    if (node_maps.size() > kMaxElements) return;
    std::size_t c = 0;
    while (c < perms.size() && !std::next_permutation(perms[c].begin(), perms[c].end())) ++c;
    if (c == perms.size()) break;
  }
  const auto same_ops = [&](const std::vector<NodeIndex>& map, std::uint32_t p, std::uint32_t q) {
    const auto& a = c_.processes[p];
    const auto& b = c_.processes[q];
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k) {
      const ExploreOp& x = a[k];
      const ExploreOp& y = b[k];
      if (x.kind != y.kind || x.token != y.token || x.domain.name != y.domain.name ||
          x.domain.low != y.domain.low || x.domain.mid != y.domain.mid ||
          x.domain.high != y.domain.high || x.node.has_value() != y.node.has_value() ||
          (x.node && map[*x.node] != *y.node)) {
        return false;
      }
    }
    return true;
  };
  std::vector<Symmetry> group;
  bool moves_processes = false;
  for (const auto& map : node_maps) {
    // Every bijection p -> q with same_ops (backtracking in process order).
    std::vector<std::uint32_t> image(procs);
    std::vector<bool> taken(procs, false);
    const auto assign = [&](auto&& self, std::uint32_t p) -> bool {
      if (p == procs) {
        Symmetry s;
        s.nodes = map;
        s.processes = image;
        s.ops.resize(total_ops_);
        s.calls.resize(total_ops_);
        for (std::uint32_t q = 0; q < procs; ++q) {
          for (std::uint32_t k = 0; k < c_.processes[q].size(); ++k) {
            const std::uint32_t to = op_offset_[image[q]] + k;
            s.ops[op_offset_[q] + k] = to;
            s.calls[op_offset_[q] + k] = to + 1;
          }
          moves_processes = moves_processes || image[q] != q;
        }
        group.push_back(std::move(s));
        return group.size() <= kMaxElements;
      }
      for (std::uint32_t q = 0; q < procs; ++q) {
        if (taken[q] || !same_ops(map, p, q)) continue;
        taken[q] = true;
        image[p] = q;
        if (!self(self, p + 1)) return false;
        taken[q] = false;
      }
      return true;
    };
    if (!assign(assign, 0)) return;
  }
  if (!moves_processes) return;
  // The odometer starts at the identity of the nodes and the backtracking tries each process
  // itself first: the identity comes first.
  TOKEN_ASSERT(std::ranges::equal(group[0].nodes, std::views::iota(NodeIndex{0}, NodeIndex(n))) &&
                   std::ranges::equal(group[0].processes,
                                      std::views::iota(0U, static_cast<std::uint32_t>(procs))),
               "the group's first element is the identity");
  group_ = std::move(group);
}

}  // namespace tokensim::explore_detail
