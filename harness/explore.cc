#include "harness/explore.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <numeric>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "core/state_hash.h"
#include "core/token_hash.h"
#include "harness/sim_check.h"
#include "host/host.h"
#include "sim/sim_disk.h"
#include "sim/simulator.h"

namespace tokensim {
namespace {

using token::ClientReply;
using token::ClientRequest;
using token::Message;
using token::NodeIndex;
using token::NodeRename;
using token::OpKind;
using token::StateHasher;
using token::TokenIndex;
using token::host::BatchId;
using token::host::CallId;
using token::host::Host;
using token::host::JobId;
using Kind = ExploreStep::Kind;

struct Fp {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  friend bool operator==(const Fp&, const Fp&) = default;
  friend bool operator<(const Fp& a, const Fp& b) {
    return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
  }
};
struct FpHash {
  std::size_t operator()(const Fp& f) const { return f.lo ^ (f.hi * 0x9E3779B97F4A7C15ULL); }
};

// Where a step's effects go; also records what a scheduled replay needs (when asked).
class Explorer;
struct State;

// The labels a scheduled replay names things by (sim/scenario.h, ScheduleStep).
struct Recorder {
  std::vector<sim::ScheduleStep> schedule;
  std::vector<sim::ScriptedOp> ops;
  std::vector<sim::Fault> faults;
  std::int64_t now = 0;
  std::vector<std::uint64_t> ops_invoked;  // per process
};

// One node: its host and the world around it, as the simulator's SimNode models it (one
// argmin worker running jobs in order, a disk with group commit). Shared between states
// until a step changes it (State::Own).
class ExNode final : public token::host::Clock,
                     public token::host::Transport,
                     public token::host::ComputeRunner,
                     public token::host::Storage {
 public:
  struct Job {
    JobId id;
    token::ComputeRequest request;
    std::uint64_t n;  // the n-th job this node started
  };
  ExNode(std::shared_ptr<const token::ReplicationScheme> scheme, NodeIndex self,
         const token::host::HostOptions& options)
      : self_(self) {
    host = std::make_unique<Host>(std::move(scheme), self, options, World());
  }
  ExNode(const ExNode& o)
      : worker(o.worker),
        disk(o.disk),
        sent(o.sent),
        jobs_started(o.jobs_started),
        incarnation(o.incarnation),
        self_(o.self_) {
    host = std::make_unique<Host>(*o.host, World());
  }
  ExNode& operator=(const ExNode&) = delete;

  // host::Clock: the explorer has no time; timers never fire (a client's give-up is a step).
  std::int64_t NowNs() const override { return 0; }
  void StartTimer(std::int64_t, CallId) override {}
  void Send(const Message& m) override;
  void AnswerClient(CallId call, const ClientReply& reply) override;
  void AnswerPeer(CallId, const token::Result<Message>&) override {
    TOKEN_ASSERT(false, "explored nodes exchange messages, never unary peer calls");
  }
  void Start(JobId job, const token::ComputeRequest& request) override {
    worker.push_back(Job{job, request, ++jobs_started});
  }
  void Cancel(JobId job) override {
    auto it =
        std::find_if(worker.begin(), worker.end(), [job](const Job& j) { return j.id == job; });
    if (it != worker.end()) worker.erase(it);
  }
  void Write(BatchId batch, std::vector<token::TokenRecord> records) override {
    if (disk.Write(batch, std::move(records))) disk.StartSync();
  }
  // The running sync completes (SimNode::SyncDone).
  void SyncDone() {
    const BatchId batch = disk.covers();
    disk.SyncDone();
    host->OnStorageDone(batch);
    if (disk.SyncWanted()) disk.StartSync();
  }

  // Everything that decides this node's future, with node indices renamed.
  void HashInto(StateHasher& h, NodeRename rename) const {
    host->HashState(h, rename);
    h.Add(worker.size());
    for (const Job& j : worker) {
      h.Add(j.id);
      h.Add(j.request.name);
      h.Add(j.request.from);
      h.Add(j.request.to);
    }
    disk.HashInto(h);
  }
  // Forgets the hashes: the node is about to change (only its one owner changes it).
  void Changing() {
    hashed_ = false;
    for (Renamed& r : renamed_) r.rename.clear();
  }
  // The hash under `rename`, remembered for the last few renamings.
  Fp HashUnder(NodeRename rename) const {
    if (rename.empty()) return Hash();
    for (const Renamed& r : renamed_) {
      if (std::equal(r.rename.begin(), r.rename.end(), rename.begin(), rename.end())) return r.fp;
    }
    StateHasher h;
    HashInto(h, rename);
    Renamed& slot = renamed_[renamed_next_++ % renamed_.size()];
    slot.rename.assign(rename.begin(), rename.end());
    slot.fp = Fp{h.low(), h.high()};
    return slot.fp;
  }
  // The identity-renamed hash, computed once (a shared node never changes).
  Fp Hash() const {
    if (!hashed_) {
      StateHasher h;
      HashInto(h, {});
      hash_ = Fp{h.low(), h.high()};
      hashed_ = true;
    }
    return hash_;
  }

  std::unique_ptr<Host> host;
  std::vector<Job> worker;  // the front one runs
  sim::SimDisk disk;
  std::uint64_t sent = 0;
  std::uint64_t jobs_started = 0;
  std::uint32_t incarnation = 0;  // its processes before this one (restarts)
  State* state = nullptr;         // the state a step is building (set only during the step)
  Explorer* explorer = nullptr;

 private:
  token::host::World World() {
    return {.clock = this, .transport = this, .compute = this, .storage = this};
  }
  NodeIndex self_;
  mutable bool hashed_ = false;
  mutable Fp hash_;
  // Hashes under other renamings (symmetry), the last few asked for.
  struct Renamed {
    std::vector<NodeIndex> rename;
    Fp fp;
  };
  mutable std::array<Renamed, 3> renamed_;
  mutable std::size_t renamed_next_ = 0;
};

struct Msg {
  Message m;
  std::uint64_t n = 0;  // the n-th message its sender sent
};

// What the clients saw of one operation: all the checker needs (its outcome and the
// operations that had finished when it started).
struct OpRec {
  enum Status : std::uint8_t { kNotInvoked, kPending, kOk, kFail, kInfo };
  Status status = kNotInvoked;
  NodeIndex node = 0;
  std::uint64_t before = 0;  // bit i: operation i had completed when this one was invoked
  std::uint64_t version = 0;
  token::RegisterValue value;
  std::optional<token::HashPoint> final_point;
  std::string error;
};

struct Client {
  std::uint32_t next = 0;  // index of its next operation
  bool busy = false;
  CallId call = 0;
};

struct State {
  std::vector<std::shared_ptr<ExNode>> nodes;
  std::vector<Msg> net;
  std::vector<Client> clients;
  std::vector<OpRec> ops;             // by global operation index
  std::vector<std::uint16_t> events;  // op index << 2 | 0 invoke, 1 completion
  std::uint32_t crashes = 0;
  std::uint32_t restarts = 0;
  bool completed = false;  // the last step completed an operation ok or fail
};

bool Independent(const ExploreStep& u, NodeIndex u_node, const ExploreStep& t, NodeIndex t_node) {
  auto local = [](Kind k) {
    return k == Kind::kDeliver || k == Kind::kCompute || k == Kind::kSync || k == Kind::kCrash;
  };
  return local(u.kind) && local(t.kind) && u_node != t_node;
}

// A step's name in a sleep set: its kind (top byte) and what it does, never a counter of
// the path that led here (a message is named by its content), so that one state reached
// by two paths names its steps alike.
// With symmetry, nodes are named as in the state's canonical renaming `rename`, so that the
// sleep sets of two renamings of one state compare.
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
        h.Add((static_cast<std::uint64_t>(m.m.type) << 48) ^ (std::uint64_t{node(m.m.from)} << 24) ^
              node(m.m.to));
        h.Add(m.m.token);
        h.Add(m.m.op_id);
        h.Add(m.m.vv);
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

class Explorer {
 public:
  explicit Explorer(const ExploreConfig& c) : c_(c), scheme_(*c.scheme) {
    host_options_.node = c.node_options;
    std::uint32_t offset = 0;
    for (const auto& p : c.processes) {
      op_offset_.push_back(offset);
      offset += static_cast<std::uint32_t>(p.size());
    }
    total_ops_ = offset;
    // Liveness holds only while a quorum of every token stays up.
    std::size_t budget = ~std::size_t{0};
    for (const auto& t : scheme_.tokens()) budget = std::min(budget, (t.replicas.size() - 1) / 2);
    liveness_ =
        c.liveness == ExploreConfig::Liveness::kAlways ||
        (c.liveness == ExploreConfig::Liveness::kWithinBudget && c.crashes + c.restarts <= budget);
    sync_steps_ = c.restarts > 0;
    if (c.symmetry) BuildSymmetry();
  }

  ExploreResult Run();

  // Effects of a step, called back by the nodes' worlds.
  void OnSend(State& s, ExNode& from, const Message& m) { s.net.push_back(Msg{m, from.sent}); }
  void OnReply(State& s, const ClientReply& r) {
    for (std::uint32_t p = 0; p < s.clients.size(); ++p) {
      Client& cl = s.clients[p];
      if (!cl.busy || cl.call != r.request_id) continue;
      const std::uint32_t op = op_offset_[p] + cl.next - 1;
      OpRec& rec = s.ops[op];
      cl.busy = false;
      if (r.status.ok()) {
        rec.status = OpRec::kOk;
        rec.version = r.version;
        rec.value = r.value;
        rec.final_point = r.final_point;
        s.completed = true;
      } else {
        rec.status = token::MayHaveTakenEffect(r.status.code()) ? OpRec::kInfo : OpRec::kFail;
        rec.error = r.status.ToString();
        s.completed = s.completed || rec.status == OpRec::kFail;
      }
      s.events.push_back(static_cast<std::uint16_t>(op << 2 | 1));
      return;
    }
    // A reply to a call its client gave up: dropped, as the simulator drops it.
  }
  Recorder* recorder = nullptr;

 private:
  struct PathNode {
    std::shared_ptr<const PathNode> parent;
    ExploreStep step;
  };
  struct Pending {
    State state;
    std::vector<std::uint64_t> sleep;                // keys of steps not to take from it
    std::optional<std::vector<std::uint64_t>> only;  // re-expansion: take only these
    std::shared_ptr<const PathNode> path;
    std::vector<NodeIndex> rename;  // its canonical renaming (sleep sets name steps by it)
  };
  struct Visited {
    std::vector<std::uint64_t> sleep;  // steps left asleep there (canonical names)
  };

  State Initial() const {
    State s;
    for (NodeIndex n = 0; n < scheme_.nodes().size(); ++n) {
      s.nodes.push_back(std::make_shared<ExNode>(c_.scheme, n, host_options_));
    }
    s.clients.resize(c_.processes.size());
    s.ops.resize(total_ops_);
    return s;
  }

  const ExploreOp& OpOf(std::uint32_t process, std::uint32_t k) const {
    return c_.processes[process][k];
  }

  ExNode& Own(State& s, NodeIndex n) {
    if (s.nodes[n].use_count() > 1) s.nodes[n] = std::make_shared<ExNode>(*s.nodes[n]);
    ExNode& node = *s.nodes[n];
    node.Changing();
    node.state = &s;
    node.explorer = this;
    return node;
  }

  NodeIndex NodeOfStep(const State& s, const ExploreStep& t) const {
    switch (t.kind) {
      case Kind::kDeliver:
        for (const Msg& m : s.net) {
          if (m.m.from == t.a && m.n == t.b) return m.m.to;
        }
        return 0;
      case Kind::kInvoke:
        return static_cast<NodeIndex>(t.b);
      case Kind::kGiveUp:
        return 0;
      default:
        return static_cast<NodeIndex>(t.a);
    }
  }

  std::vector<ExploreStep> Enabled(const State& s) const;
  void Apply(State& s, const ExploreStep& t);
  void SyncAll(State& s);
  // The canonical fingerprint; `chosen` gets the renaming that gives it (empty: none).
  Fp Fingerprint(const State& s, std::vector<NodeIndex>* chosen) const;
  Fp FingerprintRenamed(const State& s, NodeRename rename) const;
  std::optional<std::string> CheckSafety(const State& s);
  std::optional<std::string> CheckLiveness(const State& s) const;
  std::string Describe(const State& before, const ExploreStep& t) const;
  void BuildSymmetry();
  sim::Scenario Counterexample(const std::vector<ExploreStep>& path, const std::string& why,
                               bool liveness, std::vector<std::string>* trace);

  const ExploreConfig& c_;
  const token::ReplicationScheme& scheme_;
  token::host::HostOptions host_options_;
  std::vector<std::uint32_t> op_offset_;
  std::uint32_t total_ops_ = 0;
  bool liveness_ = false;
  bool sync_steps_ = false;
  // Classes of interchangeable nodes (each sorted, at least two members), and the renaming
  // that makes each class one node.
  std::vector<std::vector<NodeIndex>> groups_;
  std::vector<NodeIndex> anonymous_;
  std::unordered_map<std::uint64_t, std::optional<std::string>> verdicts_;  // by history
  std::uint64_t histories_checked_ = 0;
};

void ExNode::Send(const Message& m) {
  ++sent;
  explorer->OnSend(*state, *this, m);
}

void ExNode::AnswerClient(CallId, const ClientReply& reply) { explorer->OnReply(*state, reply); }

std::vector<ExploreStep> Explorer::Enabled(const State& s) const {
  std::vector<ExploreStep> out;
  for (std::uint32_t p = 0; p < s.clients.size(); ++p) {
    const Client& cl = s.clients[p];
    if (cl.busy) {
      const OpRec& rec = s.ops[op_offset_[p] + cl.next - 1];
      const ExploreOp& op = OpOf(p, cl.next - 1);
      const bool held = s.nodes[rec.node]->host->node().IsCrashed(op.token);
      if (c_.give_ups == GiveUps::kAlways || (c_.give_ups == GiveUps::kHeld && held)) {
        out.push_back({Kind::kGiveUp, p, 0});
      }
      continue;
    }
    if (cl.next >= c_.processes[p].size()) continue;
    const ExploreOp& op = OpOf(p, cl.next);
    const auto& ts = scheme_.token(op.token);
    if (op.node) {
      out.push_back({Kind::kInvoke, p, *op.node});
    } else if (token::IsWriterOp(op.kind)) {
      out.push_back({Kind::kInvoke, p, ts.writer});
    } else {
      for (const NodeIndex r : ts.readers) out.push_back({Kind::kInvoke, p, r});
    }
  }
  for (const Msg& m : s.net) {
    if (c_.fifo) {
      // Only the oldest message of its link.
      const bool oldest = std::none_of(s.net.begin(), s.net.end(), [&](const Msg& o) {
        return o.m.from == m.m.from && o.m.to == m.m.to && o.n < m.n;
      });
      if (!oldest) continue;
    }
    out.push_back({Kind::kDeliver, m.m.from, m.n});
  }
  for (NodeIndex n = 0; n < s.nodes.size(); ++n) {
    const ExNode& node = *s.nodes[n];
    if (!node.worker.empty()) out.push_back({Kind::kCompute, n, 0});
    if (sync_steps_ && node.disk.syncing()) out.push_back({Kind::kSync, n, 0});
  }
  if (s.crashes < c_.crashes) {
    for (NodeIndex n = 0; n < s.nodes.size(); ++n) {
      for (TokenIndex t = 0; t < scheme_.tokens().size(); ++t) {
        if (scheme_.token(t).IsReplica(n) && !s.nodes[n]->host->node().IsCrashed(t)) {
          out.push_back({Kind::kCrash, n, t});
        }
      }
    }
  }
  if (s.restarts < c_.restarts) {
    for (NodeIndex n = 0; n < s.nodes.size(); ++n) {
      if (c_.restart_plain) out.push_back({Kind::kRestart, n, 0});
      if (c_.restart_power_cut) out.push_back({Kind::kRestart, n, 1});
      if (c_.restart_disk_lost) out.push_back({Kind::kRestart, n, 2});
    }
  }
  return out;
}

// Completes every running sync until none is left (steps without sync steps of their own:
// a sync's timing shows only through the messages it releases, and those are delivered in
// every order anyway).
void Explorer::SyncAll(State& s) {
  for (bool again = true; again;) {
    again = false;
    for (NodeIndex n = 0; n < s.nodes.size(); ++n) {
      if (!s.nodes[n]->disk.syncing()) continue;
      ExNode& node = Own(s, n);
      if (recorder) {
        recorder->now += 1'000'000;
        recorder->schedule.push_back(
            {sim::ScheduleStep::Kind::kSync, recorder->now, n, node.disk.syncs_started()});
      }
      node.SyncDone();
      again = true;
    }
  }
}

void Explorer::Apply(State& s, const ExploreStep& t) {
  s.completed = false;
  const std::int64_t now = recorder ? (recorder->now += 1'000'000) : 0;
  switch (t.kind) {
    case Kind::kInvoke: {
      Client& cl = s.clients[t.a];
      const std::uint32_t k = cl.next++;
      const ExploreOp& op = OpOf(t.a, k);
      const std::uint32_t index = op_offset_[t.a] + k;
      OpRec& rec = s.ops[index];
      rec.status = OpRec::kPending;
      rec.node = static_cast<NodeIndex>(t.b);
      for (std::uint32_t i = 0; i < s.ops.size(); ++i) {
        const auto st = s.ops[i].status;
        if (st == OpRec::kOk || st == OpRec::kFail || st == OpRec::kInfo) rec.before |= 1ULL << i;
      }
      cl.busy = true;
      // The call's id names the operation, not the order of invocations: states that differ
      // only in which client invoked first meet.
      cl.call = index + 1;
      s.events.push_back(static_cast<std::uint16_t>(index << 2));
      if (recorder) {
        recorder->ops.push_back(
            sim::ScriptedOp{now, t.a, op.kind, op.token, op.domain, static_cast<NodeIndex>(t.b)});
      }
      ClientRequest req{cl.call, op.kind, scheme_.token(op.token).id, op.domain};
      Own(s, rec.node).host->OnClientCall(cl.call, std::move(req), std::nullopt);
      break;
    }
    case Kind::kDeliver: {
      auto it = std::find_if(s.net.begin(), s.net.end(),
                             [&](const Msg& m) { return m.m.from == t.a && m.n == t.b; });
      TOKEN_ASSERT(it != s.net.end(), "a delivered message is in flight");
      const Message m = it->m;
      s.net.erase(it);
      if (recorder) {
        recorder->schedule.push_back({sim::ScheduleStep::Kind::kDeliver, now, t.a, t.b});
      }
      Own(s, m.to).host->OnPeerMessage(m);
      break;
    }
    case Kind::kCompute: {
      ExNode& node = Own(s, static_cast<NodeIndex>(t.a));
      const ExNode::Job job = node.worker.front();
      node.worker.erase(node.worker.begin());
      if (recorder) {
        recorder->schedule.push_back({sim::ScheduleStep::Kind::kCompute, now, t.a, job.n});
      }
      node.host->OnComputeDone(job.id,
                               token::Argmin(job.request.name, job.request.from, job.request.to));
      break;
    }
    case Kind::kSync: {
      ExNode& node = Own(s, static_cast<NodeIndex>(t.a));
      if (recorder) {
        recorder->schedule.push_back(
            {sim::ScheduleStep::Kind::kSync, now, t.a, node.disk.syncs_started()});
      }
      node.SyncDone();
      break;
    }
    case Kind::kCrash: {
      ++s.crashes;
      if (recorder) {
        recorder->faults.push_back(sim::Fault{sim::FaultKind::kCrashToken, now,
                                              static_cast<NodeIndex>(t.a),
                                              static_cast<TokenIndex>(t.b)});
      }
      Own(s, static_cast<NodeIndex>(t.a)).host->CrashToken(static_cast<TokenIndex>(t.b));
      break;
    }
    case Kind::kGiveUp: {
      Client& cl = s.clients[t.a];
      const std::uint32_t index = op_offset_[t.a] + cl.next - 1;
      OpRec& rec = s.ops[index];
      rec.status = OpRec::kInfo;
      cl.busy = false;
      s.events.push_back(static_cast<std::uint16_t>(index << 2 | 1));
      if (recorder) {
        recorder->schedule.push_back({sim::ScheduleStep::Kind::kGiveUp, now, t.a, cl.next});
      }
      Own(s, rec.node).host->OnCallCancelled(cl.call);
      break;
    }
    case Kind::kRestart: {
      ++s.restarts;
      const auto n = static_cast<NodeIndex>(t.a);
      if (recorder) {
        sim::Fault f{sim::FaultKind::kRestartNode, now, n, 0};
        f.down_ns = sim::kScheduledHopNs;
        f.lose_unsynced = t.b == 1;
        f.disk_lost = t.b == 2;
        recorder->faults.push_back(f);
      }
      ExNode& node = Own(s, n);
      // The process dies (SimNode::Die): unsynced writes survive unless the power went.
      node.disk.Die(t.b == 1 ? 0 : node.disk.UnsyncedRecords());
      node.worker.clear();
      if (t.b == 2) node.disk.LoseDisk();
      // Its connections drop with what was on them; its clients see theirs drop (info).
      std::erase_if(s.net, [n](const Msg& m) { return m.m.from == n || m.m.to == n; });
      for (std::uint32_t p = 0; p < s.clients.size(); ++p) {
        Client& cl = s.clients[p];
        const std::uint32_t index = op_offset_[p] + cl.next - 1;
        if (!cl.busy || s.ops[index].node != n) continue;
        cl.busy = false;
        s.ops[index].status = OpRec::kInfo;
        s.events.push_back(static_cast<std::uint16_t>(index << 2 | 1));
      }
      // It comes back from its disk (SimNode::Boot).
      node.host.reset();
      node.host = std::make_unique<Host>(c_.scheme, n, host_options_,
                                         token::host::World{&node, &node, &node, &node});
      ++node.incarnation;
      node.host->Start(node.disk.BootMode(), node.disk.BootRecords(),
                       token::FirstOpIdOf(node.incarnation));
      break;
    }
  }
  if (!sync_steps_) SyncAll(s);
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
    mh.Add((static_cast<std::uint64_t>(m.m.type) << 48) ^
           (std::uint64_t{StateHasher::Renamed(rename, m.m.from)} << 24) ^
           StateHasher::Renamed(rename, m.m.to));
    mh.Add(m.m.token);
    mh.Add(m.m.op_id);
    mh.Add(m.m.vv);
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
    h.Add((static_cast<std::uint64_t>(m.m.type) << 48) ^
          (std::uint64_t{anonymous_[m.m.from]} << 24) ^ anonymous_[m.m.to]);
    h.Add(m.m.token);
    h.Add(m.m.op_id);
    h.Add(m.m.vv);
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

// The history so far as the simulator writes it, through the project's checker.
std::optional<std::string> Explorer::CheckSafety(const State& s) {
  StateHasher key;
  for (const OpRec& r : s.ops) {
    key.Add(static_cast<std::uint64_t>(r.status));
    key.Add(r.before);
    key.Add(r.version);
    key.Add(r.value);
  }
  auto [it, inserted] = verdicts_.try_emplace(key.low() ^ key.high());
  if (!inserted) return it->second;
  ++histories_checked_;
  std::vector<sim::HistoryEvent> events;
  std::vector<std::uint32_t> process_of(s.ops.size());
  for (std::uint32_t p = 0; p < c_.processes.size(); ++p) {
    for (std::uint32_t k = 0; k < c_.processes[p].size(); ++k) process_of[op_offset_[p] + k] = p;
  }
  for (std::size_t i = 0; i < s.events.size(); ++i) {
    const std::uint32_t index = s.events[i] >> 2;
    const bool invoke = (s.events[i] & 3) == 0;
    const std::uint32_t p = process_of[index];
    const ExploreOp& op = OpOf(p, index - op_offset_[p]);
    const OpRec& rec = s.ops[index];
    sim::HistoryEvent e;
    e.process = p;
    e.kind = op.kind;
    e.token = op.token;
    e.time_ns = static_cast<std::int64_t>(i);
    e.node = rec.node;
    using T = sim::HistoryEvent::Type;
    e.type = invoke                       ? T::kInvoke
             : rec.status == OpRec::kOk   ? T::kOk
             : rec.status == OpRec::kFail ? T::kFail
                                          : T::kInfo;
    if (op.kind == OpKind::kWrite && (invoke || e.type != T::kInvoke)) {
      e.value = token::RegisterValue::Data(token::TokenData{op.domain, std::nullopt});
    } else if (op.kind == OpKind::kCreate) {
      e.value = token::RegisterValue::Empty();
    } else if (op.kind == OpKind::kDrop) {
      e.value = token::RegisterValue::Dropped();
    }
    if (!invoke && rec.status == OpRec::kOk) {
      e.has_version = true;
      e.version = rec.version;
      if (op.kind == OpKind::kRead) e.value = rec.value;
    }
    events.push_back(std::move(e));
  }
  sim::Scenario for_names;
  for_names.scheme = c_.scheme;
  checker::ParseResult parsed = checker::ParseHistoryString(sim::HistoryToJsonl(for_names, events));
  TOKEN_ASSERT(parsed.history.has_value(), "the explorer writes histories the checker reads");
  const checker::Report report = checker::CheckHistory(*parsed.history);
  if (report.overall == checker::Verdict::kViolation) {
    for (const checker::TokenVerdict& t : report.tokens) {
      if (t.verdict != checker::Verdict::kViolation) continue;
      it->second =
          fmt::format("token {}: {}: {}", t.token, checker::RuleName(t.rule), t.explanation);
      break;
    }
  }
  return it->second;
}

std::optional<std::string> Explorer::CheckLiveness(const State& s) const {
  for (std::uint32_t p = 0; p < s.clients.size(); ++p) {
    const Client& cl = s.clients[p];
    if (!cl.busy) continue;
    const OpRec& rec = s.ops[op_offset_[p] + cl.next - 1];
    const ExploreOp& op = OpOf(p, cl.next - 1);
    if (s.nodes[rec.node]->host->node().IsCrashed(op.token)) continue;
    return fmt::format(
        "liveness: process {}'s {} of token {} at {} can never complete (no step is enabled; "
        "its coordinator is live for the token)",
        p, token::OpKindName(op.kind), scheme_.token(op.token).id, scheme_.node(rec.node));
  }
  return std::nullopt;
}

std::string Explorer::Describe(const State& before, const ExploreStep& t) const {
  switch (t.kind) {
    case Kind::kInvoke: {
      const ExploreOp& op = OpOf(t.a, before.clients[t.a].next);
      return fmt::format("process {} invokes {} token {} at {}", t.a, token::OpKindName(op.kind),
                         scheme_.token(op.token).id, scheme_.node(static_cast<NodeIndex>(t.b)));
    }
    case Kind::kDeliver:
      for (const Msg& m : before.net) {
        if (m.m.from != t.a || m.n != t.b) continue;
        return fmt::format("deliver {} {} -> {} token {} op {} version {}",
                           token::MessageTypeName(m.m.type), scheme_.node(m.m.from),
                           scheme_.node(m.m.to), scheme_.token(m.m.token).id, m.m.op_id,
                           m.m.vv.version);
      }
      return "deliver ?";
    case Kind::kCompute:
      return fmt::format("argmin job finishes at {}", scheme_.node(static_cast<NodeIndex>(t.a)));
    case Kind::kSync:
      return fmt::format("storage sync completes at {}", scheme_.node(static_cast<NodeIndex>(t.a)));
    case Kind::kCrash:
      return fmt::format("{} crashes for token {}", scheme_.node(static_cast<NodeIndex>(t.a)),
                         scheme_.token(static_cast<TokenIndex>(t.b)).id);
    case Kind::kRestart: {
      static constexpr const char* kHow[] = {"restarts", "loses power and restarts",
                                             "restarts with its disk lost"};
      return fmt::format("{} {}", scheme_.node(static_cast<NodeIndex>(t.a)), kHow[t.b]);
    }
    case Kind::kGiveUp:
      return fmt::format("process {} gives up", t.a);
  }
  return "?";
}

sim::Scenario Explorer::Counterexample(const std::vector<ExploreStep>& path, const std::string& why,
                                       bool liveness, std::vector<std::string>* trace) {
  Recorder rec;
  recorder = &rec;
  State s = Initial();
  for (const ExploreStep& t : path) {
    trace->push_back(Describe(s, t));
    Apply(s, t);
  }
  recorder = nullptr;
  sim::Scenario out;
  out.name = c_.name + "-counterexample";
  out.description =
      fmt::format("tokensim explore: a shortest path ({} steps) to: {}", path.size(), why);
  out.scheme = c_.scheme;
  out.node_options = c_.node_options;
  out.retry_reads = false;
  out.ops = rec.ops;
  // Operations never invoked on the path are left out: the schedule runs what it names.
  out.faults = rec.faults;
  out.schedule = rec.schedule;
  out.max_time_ns = rec.now + 1'000'000'000;
  out.expect.verdict = liveness ? sim::ExpectVerdict::kAny : sim::ExpectVerdict::kLinearizable;
  out.expect.liveness = liveness;
  return out;
}

ExploreResult Explorer::Run() {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  ExploreResult r;
  r.liveness_checked = liveness_;
  std::unordered_map<Fp, Visited, FpHash> visited;
  visited.reserve(1 << 16);
  std::deque<Pending> frontier;
  {
    State init = Initial();
    std::vector<NodeIndex> rename;
    const Fp fp = Fingerprint(init, &rename);
    visited.emplace(fp, Visited{});
    frontier.push_back(Pending{std::move(init), {}, std::nullopt, nullptr, std::move(rename)});
  }
  auto last_progress = elapsed();
  bool cut = false;
  auto finish = [&](const std::shared_ptr<const PathNode>& path, std::string why, bool live) {
    for (const PathNode* p = path.get(); p; p = p->parent.get()) r.path.push_back(p->step);
    std::reverse(r.path.begin(), r.path.end());
    r.verdict = live ? ExploreResult::Verdict::kLiveness : ExploreResult::Verdict::kSafety;
    r.violation = why;
    r.counterexample = Counterexample(r.path, why, live, &r.trace);
  };
  for (std::uint64_t depth = 0; !frontier.empty(); ++depth) {
    r.depth = depth;
    r.max_frontier = std::max<std::uint64_t>(r.max_frontier, frontier.size());
    std::deque<Pending> next;
    for (std::size_t fi = 0; fi < frontier.size(); ++fi) {
      Pending& cur = frontier[fi];
      const std::vector<ExploreStep> enabled = Enabled(cur.state);
      if (enabled.empty() && !cur.only) {
        ++r.terminal;
        if (liveness_) {
          if (auto why = CheckLiveness(cur.state)) {
            finish(cur.path, *why, true);
            break;
          }
        }
      }
      if (c_.max_depth && depth >= c_.max_depth) {
        cut = cut || !enabled.empty();  // its successors lie beyond the depth bound
        continue;
      }
      // Steps asleep here and steps explored here: they sleep in a successor when
      // independent of the step that made it.
      std::vector<std::pair<ExploreStep, NodeIndex>> done;
      std::vector<std::pair<ExploreStep, NodeIndex>> asleep;
      std::vector<std::uint64_t> keys;
      for (const ExploreStep& t : enabled) {
        keys.push_back(StepKey(cur.state, t, cur.rename));
        if (std::find(cur.sleep.begin(), cur.sleep.end(), keys.back()) != cur.sleep.end()) {
          asleep.emplace_back(t, NodeOfStep(cur.state, t));
        }
      }
      for (std::size_t ti = 0; ti < enabled.size(); ++ti) {
        const ExploreStep& t = enabled[ti];
        const std::uint64_t key = keys[ti];
        if (std::find(cur.sleep.begin(), cur.sleep.end(), key) != cur.sleep.end()) continue;
        if (cur.only && std::find(cur.only->begin(), cur.only->end(), key) == cur.only->end()) {
          continue;
        }
        const NodeIndex t_node = NodeOfStep(cur.state, t);
        State succ = cur.state;
        Apply(succ, t);
        ++r.states;
        std::vector<NodeIndex> rename;
        std::optional<Fp> print;
        std::vector<std::uint64_t> sleep;
        if (c_.sleep_sets) {
          print = Fingerprint(succ, &rename);
          for (const auto* list : {&asleep, &done}) {
            for (const auto& [u, n] : *list) {
              if (Independent(u, n, t, t_node)) sleep.push_back(StepKey(succ, u, rename));
            }
          }
          done.emplace_back(t, t_node);
        }
        auto path = std::make_shared<const PathNode>(PathNode{cur.path, t});
        if (succ.completed) {
          if (auto why = CheckSafety(succ)) {
            r.unique = visited.size();
            finish(path, *why, false);
            break;
          }
        }
        const Fp fp = print ? *print : Fingerprint(succ, &rename);
        auto [it, inserted] = visited.try_emplace(fp);
        if (inserted) {
          it->second.sleep = sleep;
          next.push_back(Pending{std::move(succ), std::move(sleep), std::nullopt, std::move(path),
                                 std::move(rename)});
          continue;
        }
        if (!c_.sleep_sets || it->second.sleep.empty()) continue;
        // Reached again: the steps asleep before but awake now must be taken from it too.
        std::vector<std::uint64_t> woken;
        std::vector<std::uint64_t> still;
        for (const std::uint64_t k : it->second.sleep) {
          (std::find(sleep.begin(), sleep.end(), k) == sleep.end() ? woken : still).push_back(k);
        }
        if (woken.empty()) continue;
        it->second.sleep = still;
        next.push_back(Pending{std::move(succ), std::move(still), std::move(woken), std::move(path),
                               std::move(rename)});
      }
      if (r.verdict != ExploreResult::Verdict::kNone) break;
      r.unique = visited.size();
      const double now = elapsed();
      if (c_.progress && now - last_progress >= 1.0) {
        last_progress = now;
        c_.progress(ExploreProgress{r.states, r.unique, depth,
                                    frontier.size() - fi - 1 + next.size(), now});
      }
      if (c_.max_states && visited.size() >= c_.max_states) {
        r.stopped_by = fmt::format("max states ({})", c_.max_states);
        break;
      }
      if (c_.max_seconds > 0 && now >= c_.max_seconds) {
        r.stopped_by = fmt::format("time limit ({} s)", c_.max_seconds);
        break;
      }
      if (c_.max_frontier && next.size() >= c_.max_frontier) {
        r.stopped_by = fmt::format("max frontier ({} states)", c_.max_frontier);
        break;
      }
    }
    if (r.verdict != ExploreResult::Verdict::kNone || !r.stopped_by.empty()) break;
    if (cut) {
      r.stopped_by = fmt::format("max depth ({})", c_.max_depth);
    }
    frontier = std::move(next);
  }
  r.unique = visited.size();
  r.histories_checked = histories_checked_;
  r.exhausted = r.verdict == ExploreResult::Verdict::kNone && r.stopped_by.empty();
  r.seconds = elapsed();
  return r;
}

}  // namespace

token::Result<ExploreConfig> ExploreConfigFromScenario(const sim::Scenario& scenario) {
  if (scenario.workload) {
    return token::Status::InvalidArgument(
        "explore runs scripted 'operations' only: this scenario has a 'workload'");
  }
  if (scenario.ops.empty()) {
    return token::Status::InvalidArgument("explore needs 'operations' (the scenario has none)");
  }
  ExploreConfig c;
  c.name = scenario.name.empty() ? "explore" : scenario.name;
  c.scheme = scenario.scheme;
  c.node_options = scenario.node_options;
  std::vector<const sim::ScriptedOp*> ops;
  for (const sim::ScriptedOp& op : scenario.ops) ops.push_back(&op);
  std::stable_sort(ops.begin(), ops.end(), [](const sim::ScriptedOp* a, const sim::ScriptedOp* b) {
    return a->at_ns < b->at_ns;
  });
  std::uint32_t processes = 0;
  for (const sim::ScriptedOp* op : ops) processes = std::max(processes, op->process + 1);
  if (processes > 16 || ops.size() > 32) {
    return token::Status::InvalidArgument(fmt::format(
        "explore takes at most 16 processes and 32 operations (this scenario: {} and {})",
        processes, ops.size()));
  }
  c.processes.resize(processes);
  for (const sim::ScriptedOp* op : ops) {
    c.processes[op->process].push_back(ExploreOp{op->kind, op->token, op->domain, op->node});
  }
  return c;
}

ExploreConfig ShapeConfig(std::uint32_t replicas, std::uint32_t tokens, std::uint32_t readers,
                          std::uint32_t ops_per_client) {
  TOKEN_ASSERT(replicas >= 1 && replicas <= 16 && tokens >= 1 && tokens <= 4 && readers <= 8 &&
                   ops_per_client >= 1 && ops_per_client <= 8,
               "shape within its bounds");
  std::vector<token::TokenEntry> entries;
  std::vector<std::string> nodes;
  for (std::uint32_t i = 0; i < replicas; ++i)
    nodes.push_back(fmt::format("127.0.0.1:{}", 50051 + i));
  for (std::uint32_t t = 0; t < tokens; ++t) {
    token::TokenEntry e;
    e.token = fmt::format("{}", t + 1);
    e.writer = nodes[t % replicas];
    e.readers = nodes;
    entries.push_back(std::move(e));
  }
  auto scheme = token::ReplicationScheme::Create(std::move(entries));
  TOKEN_ASSERT(scheme.ok(), "the shape's scheme is valid");
  ExploreConfig c;
  c.name = fmt::format("shape-{}r-{}t-{}w{}r-{}ops", replicas, tokens, tokens, tokens * readers,
                       ops_per_client);
  c.scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  for (std::uint32_t t = 0; t < tokens; ++t) {
    std::vector<ExploreOp> writes;
    const auto p = static_cast<std::uint32_t>(c.processes.size());
    for (std::uint32_t k = 0; k < ops_per_client; ++k) {
      writes.push_back(ExploreOp{
          OpKind::kWrite, t, token::Domain{fmt::format("p{}w{}", p, k), 0, 1, 2}, std::nullopt});
    }
    c.processes.push_back(std::move(writes));
    for (std::uint32_t r = 0; r < readers; ++r) {
      c.processes.emplace_back(ops_per_client, ExploreOp{OpKind::kRead, t, {}, std::nullopt});
    }
  }
  return c;
}

ExploreResult Explore(const ExploreConfig& config) {
  ExploreResult r = Explorer(config).Run();
  if (r.counterexample) {
    // Replay it in the simulator: pin its digest and see that it fails there too.
    const Judgement j = RunAndJudge(*r.counterexample);
    r.counterexample->expect.digest = sim::Expectation::PinnedDigest{
        j.run.digest, r.counterexample->seed, r.counterexample->node_options.mutant};
    r.replay_fails = !j.expectation_met;
    r.replay_mismatch = j.mismatch;
  }
  return r;
}

}  // namespace tokensim
