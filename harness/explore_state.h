// The explorer's insides (harness/explore.h), shared by its files: the state of the whole
// system and the Explorer that searches it. explore_state.cc fingerprints states and names
// steps; explore_step.cc lists and applies the steps; explore.cc runs the search and judges.
// Not for use outside the explorer.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/state_hash.h"
#include "harness/explore.h"
#include "host/host.h"
#include "sim/sim_disk.h"

namespace tokensim::explore_detail {

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
  std::vector<std::string> eager;          // client steps taken at once (eager_clients), said so
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
  // `disk_matters`: a restart may still read the disk (otherwise its records decide
  // nothing and are not hashed).
  ExNode(std::shared_ptr<const token::ReplicationScheme> scheme, NodeIndex self,
         const token::host::HostOptions& options, bool disk_matters)
      : disk_matters_(disk_matters), self_(self) {
    host = std::make_unique<Host>(std::move(scheme), self, options, World());
  }
  ExNode(const ExNode& o) : disk_matters_(o.disk_matters_), self_(o.self_) {
    CopyWorld(o);
    host = std::make_unique<Host>(*o.host, World());
  }
  ExNode& operator=(const ExNode&) = delete;
  // Becomes a copy of `o` (of the same node) in this node's storage: its host's maps and
  // vectors are reused, so a successor's changed node costs no allocation once warm.
  void Assign(const ExNode& o) {
    CopyWorld(o);
    host->AssignState(*o.host);
  }

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
    if (disk_matters_) {
      // The disk names batches by the host's numbers: with it, they count as they are.
      disk.HashInto(h);
      h.Add(host->batches_durable());
    }
  }
  // Forgets the hashes: the node is about to change (only its one owner changes it).
  void Changing() {
    hashed_ = false;
    for (Renamed& r : renamed_) r.rename.clear();
    as_known_ = 0;
  }
  // The hash under symmetry `element` of the explorer's group (its node renaming and call
  // map), remembered for the first 16 elements.
  Fp HashAs(std::size_t element, NodeRename rename, std::span<const std::uint64_t> calls) const {
    const bool keep = element < as_.size();
    if (keep && (as_known_ >> element & 1) != 0) return as_[element];
    StateHasher h;
    h.MapCalls(calls);
    HashInto(h, rename);
    const Fp fp{h.low(), h.high()};
    if (keep) {
      as_[element] = fp;
      as_known_ |= 1U << element;
    }
    return fp;
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
  // What a copy takes from `o` besides its host (the copy and Assign share it).
  void CopyWorld(const ExNode& o) {
    worker = o.worker;
    disk = o.disk;
    sent = o.sent;
    jobs_started = o.jobs_started;
    incarnation = o.incarnation;
  }
  bool disk_matters_;
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
  mutable std::array<Fp, 16> as_;
  mutable std::uint32_t as_known_ = 0;
};

struct Msg {
  Msg(const Message& message, std::uint64_t count) : m(message), n(count) {
    StateHasher h;
    h.Add(m.token);
    h.Add(m.op_id);
    h.Add(m.vv);
    content = Fp{h.low(), h.high()};
  }
  // Its hash with its sender and receiver renamed, added to a multiset's two lanes
  // (fingerprints: cheaper than HashInto, its content hashed already).
  void AddTo(std::uint64_t& lo, std::uint64_t& hi, NodeRename rename) const {
    const std::uint64_t key = (static_cast<std::uint64_t>(m.type) << 48) ^
                              (std::uint64_t{StateHasher::Renamed(rename, m.from)} << 24) ^
                              StateHasher::Renamed(rename, m.to);
    lo += StateHasher::Mix(content.lo ^ (key * 0x9E3779B97F4A7C15ULL), 0xBF58476D1CE4E5B9ULL);
    hi += StateHasher::Mix(content.hi + (key * 0xD6E8FEB86659FD93ULL) + 0x632BE59BD9B4E019ULL,
                           0xBF58476D1CE4E5B9ULL);
  }
  // Its hash with its sender and receiver renamed (fingerprints and sleep sets).
  void HashInto(StateHasher& h, NodeRename rename) const {
    h.Add((static_cast<std::uint64_t>(m.type) << 48) ^
          (std::uint64_t{StateHasher::Renamed(rename, m.from)} << 24) ^
          StateHasher::Renamed(rename, m.to));
    h.Add(content.lo);
    h.Add(content.hi);
  }

  Message m;
  std::uint64_t n = 0;  // the n-th message its sender sent
  Fp content;           // its token, operation and value hashed, once
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
  std::uint64_t value_hash = 0;  // of version and value, made when they are set
  std::optional<token::HashPoint> final_point;
  std::string error;
};

// The operations' records, shared between states until a step changes one (most steps
// deliver a message and change none): copying a state copies a pointer.
class OpRecs {
 public:
  void resize(std::size_t n) {
    block_ = std::make_shared<Block>();
    block_->recs.resize(n);
  }
  std::size_t size() const { return block_ ? block_->recs.size() : 0; }
  const OpRec& operator[](std::size_t i) const { return block_->recs[i]; }
  // The record to change, copied first when another state shares it.
  OpRec& Mutable(std::size_t i) {
    if (block_.use_count() > 1) block_ = std::make_shared<Block>(*block_);
    block_->known = 0;
    return block_->recs[i];
  }
  auto begin() const { return block_->recs.cbegin(); }
  auto end() const { return block_->recs.cend(); }
  // The records' hash under renaming `slot` (< kSlots), made by `make` the first time it
  // is asked for: states that share the records share it (they change far more rarely
  // than the rest of a state).
  static constexpr std::size_t kSlots = 17;
  static constexpr std::size_t kIdentitySlot = kSlots - 1;  // after the group's 16 elements
  template <typename Make>
  Fp HashAs(std::size_t slot, const Make& make) const {
    Block& b = *block_;
    if ((b.known >> slot & 1) == 0) {
      b.hash[slot] = make();
      b.known |= std::uint32_t{1} << slot;
    }
    return b.hash[slot];
  }

 private:
  struct Block {
    std::vector<OpRec> recs;
    std::array<Fp, kSlots> hash{};
    std::uint32_t known = 0;
  };
  std::shared_ptr<Block> block_;
};

struct Client {
  std::uint32_t next = 0;  // index of its next operation
  bool busy = false;
  CallId call = 0;
};

struct State {
  std::vector<std::shared_ptr<ExNode>> nodes;
  // Where the nodes a step changes are made (by node index; Explorer::Own), when the state
  // is a successor thrown away once fingerprinted: its storage is reused by the next one.
  // Set on each successor after it is copied (null: every changed node is a new one).
  std::vector<std::shared_ptr<ExNode>>* scratch = nullptr;
  std::vector<Msg> net;
  std::vector<Client> clients;
  OpRecs ops;                         // by global operation index
  std::vector<std::uint16_t> events;  // op index << 2 | 0 invoke, 1 completion
  std::uint32_t crashes = 0;
  std::uint32_t restarts = 0;
  bool completed = false;  // the last step completed an operation ok or fail
  // The nodes the last step changed (NodeBit).
  std::uint64_t changed = 0;
};

// Node n's bit in State::changed (every bit for nodes past 64: all count as changed).
inline std::uint64_t NodeBit(NodeIndex n) {
  return n < 64 ? std::uint64_t{1} << n : ~std::uint64_t{0};
}

// A symmetry of a configuration: a renaming of its nodes and, with it, of its processes
// (clients) whose operations are the same up to that renaming (an operation's node
// renamed); their operations and call ids follow the processes.
struct Symmetry {
  std::vector<NodeIndex> nodes;          // node n -> nodes[n]
  std::vector<std::uint32_t> processes;  // process p -> processes[p]
  std::vector<std::uint32_t> ops;        // operation index -> operation index
  std::vector<std::uint64_t> calls;      // call id c (1-based) -> calls[c - 1]
};

// How a state is renamed for its canonical fingerprint: its nodes (empty: as they are) and,
// when the explorer's group moves processes, the group's element.
struct Renaming {
  std::vector<NodeIndex> own;  // the nodes' images without a group element (empty: none)
  const Symmetry* sym = nullptr;
  std::size_t element = 0;
  NodeRename nodes() const { return sym ? NodeRename(sym->nodes) : NodeRename(own); }
  std::uint32_t Process(std::uint32_t p) const { return sym ? sym->processes[p] : p; }
};

// A step taken (or asleep) at a state: the node it acts at and whether it is quiet there
// (it changed no client and no operation's record: no invocation, completion or give-up).
struct Taken {
  ExploreStep step;
  NodeIndex node = 0;
  bool quiet = false;
};
// Whether `u` and `t`, both enabled at one state, commute there (sleep sets): steps at
// different nodes that no client sees (deliveries, computes, syncs, crashes), and an
// invocation with another invocation or with a quiet such step at another node. (A step
// that completes an operation does not commute with an invocation: the invoked operation
// records which operations had finished.)
bool Independent(const Taken& u, const Taken& t);

// A step's name in a sleep set: its kind (top byte) and what it does, never a counter of
// the path that led here (a message is named by its content), so that one state reached
// by two paths names its steps alike.
// With symmetry, nodes are named as in the state's canonical renaming `rename`, so that the
// sleep sets of two renamings of one state compare.
std::uint64_t StepKey(const State& s, const ExploreStep& t, const Renaming& rename);

class Explorer {
 public:
  explicit Explorer(const ExploreConfig& c) : c_(c), scheme_(*c.scheme) {
    host_options_.node = c.node_options;
    std::uint32_t offset = 0;
    for (const auto& p : c.processes) {
      op_offset_.push_back(offset);
      offset += static_cast<std::uint32_t>(p.size());
      for (const ExploreOp& op : p) op_at_.push_back(&op);
    }
    total_ops_ = offset;
    for (const ExploreOp* op : op_at_) {
      const auto same = [op](const ExploreOp* o) {
        return o->kind == OpKind::kWrite && o->token == op->token && o->domain == op->domain;
      };
      unseen_dead_.push_back(
          op->kind == OpKind::kRead ||
          (op->kind == OpKind::kWrite && std::ranges::count_if(op_at_, same) == 1));
    }
    // Liveness holds only while a quorum of every token stays up.
    std::size_t budget = ~std::size_t{0};
    for (const auto& t : scheme_.tokens()) budget = std::min(budget, (t.replicas.size() - 1) / 2);
    liveness_ =
        c.liveness == ExploreConfig::Liveness::kAlways ||
        (c.liveness == ExploreConfig::Liveness::kWithinBudget && c.crashes + c.restarts <= budget);
    sync_steps_ = c.restarts > 0;
    drop_dead_ = c.drop_dead && c.restarts == 0;
    eager_clients_ = c.eager_clients;
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
      OpRec& rec = s.ops.Mutable(op);
      cl.busy = false;
      if (r.status.ok()) {
        rec.status = OpRec::kOk;
        rec.version = r.version;
        rec.value = r.value;
        {
          StateHasher vh;
          vh.Add(r.version);
          vh.Add(r.value);
          rec.value_hash = vh.low() ^ vh.high();
        }
        rec.final_point = r.final_point;
        s.completed = true;
      } else {
        if (token::MayHaveTakenEffect(r.status.code())) {
          MarkInfo(rec, op);
        } else {
          rec.status = OpRec::kFail;
        }
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
  // A state of the search, kept as the step that made it from its parent (a state of the
  // level before) and made again from it when its level is expanded: the levels hold about
  // 40 bytes a state (and its sleeping steps), never a state (Materialize).
  struct Entry {
    ExploreStep step;  // from its parent (none at level 0)
    // Its sleep set and, for a re-expansion (only_size > 0: the steps woken there), the only
    // steps to take: keys in Level::keys from keys_begin.
    std::uint64_t keys_begin = 0;
    // Its canonical renaming (symmetry), node i's image in bits 4i..4i+3 (up to 16 nodes;
    // with more it is made again from the state).
    std::uint64_t rename = 0;
    std::uint32_t parent = 0;  // its index in the level before
    std::uint16_t sleep_size = 0;
    std::uint16_t only_size = 0;
  };
  struct Level {
    std::vector<Entry> entries;  // in the order their parents were expanded
    std::vector<std::uint64_t> keys;
  };
  // Materialize's last state of each level (one per thread that expands states).
  struct Made {
    std::size_t index = ~std::size_t{0};
    State state;
    // Where its steps make the nodes they change (State::scratch): a node still shared with
    // a state below it is made anew instead.
    std::vector<std::shared_ptr<ExNode>> scratch;
  };
  // The state of entry `i` of level `d`, made again from the initial state along its path;
  // one state per level is kept in `made`, so siblings (consecutive entries) share their
  // parents'. The reference holds until the next call with the same `made`.
  const State& Materialize(std::vector<Made>& made, const std::vector<Level>& levels, std::size_t d,
                           std::size_t i);
  // The steps from the initial state to entry `i` of level `d`.
  static std::vector<ExploreStep> PathTo(const std::vector<Level>& levels, std::size_t d,
                                         std::size_t i);
  // The fingerprints of the states visited, each with the steps left asleep there
  // (canonical names): open addressing with linear probing, 24 bytes a slot at most 70%
  // full, the sleeping steps in one pool (a state's set only ever shrinks, in place).
  class VisitedSet {
   public:
    VisitedSet() : slots_(std::size_t{1} << 16) {}
    std::size_t size() const { return size_; }
    std::size_t bytes() const {
      return slots_.capacity() * sizeof(Slot) + pool_.capacity() * sizeof(std::uint64_t);
    }
    // The slot of `fp`, and whether it was new (then with no steps asleep).
    std::pair<std::uint32_t, bool> Insert(Fp fp) {
      if ((size_ + 1) * 10 > slots_.size() * 7) Grow();
      if (fp == Fp{}) fp.lo = 1;  // the empty slot's mark (another 1 in 2^128 of merging)
      std::size_t i = Home(fp);
      while (true) {
        Slot& slot = slots_[i];
        if (slot.fp == fp) return {static_cast<std::uint32_t>(i), false};
        if (slot.fp == Fp{}) {
          slot.fp = fp;
          ++size_;
          return {static_cast<std::uint32_t>(i), true};
        }
        i = (i + 1) & (slots_.size() - 1);
      }
    }
    // A hint: `fp`'s slot will be asked for soon (a probe misses the cache otherwise).
    void Prefetch(const Fp& fp) const { __builtin_prefetch(&slots_[Home(fp)]); }
    std::span<const std::uint64_t> Sleep(std::uint32_t slot) const {
      const Slot& s = slots_[slot];
      return {pool_.data() + s.sleep_begin, s.sleep_size};
    }
    void SetSleep(std::uint32_t slot, std::span<const std::uint64_t> keys) {
      Slot& s = slots_[slot];
      if (keys.size() > s.sleep_size) {
        s.sleep_begin = pool_.size();
        pool_.insert(pool_.end(), keys.begin(), keys.end());
      } else {
        std::copy(keys.begin(), keys.end(),
                  pool_.begin() + static_cast<std::ptrdiff_t>(s.sleep_begin));
      }
      s.sleep_size = static_cast<std::uint32_t>(keys.size());
    }

   private:
    struct Slot {
      Fp fp;
      std::uint64_t sleep_begin : 40 = 0;
      std::uint64_t sleep_size : 24 = 0;
    };
    std::size_t Home(const Fp& fp) const { return FpHash{}(fp) & (slots_.size() - 1); }
    void Grow() {
      std::vector<Slot> old(slots_.size() * 2);
      old.swap(slots_);
      for (const Slot& s : old) {
        if (s.fp == Fp{}) continue;
        std::size_t i = Home(s.fp);
        while (!(slots_[i].fp == Fp{})) i = (i + 1) & (slots_.size() - 1);
        slots_[i] = s;
      }
    }
    std::vector<Slot> slots_;
    std::vector<std::uint64_t> pool_;
    std::size_t size_ = 0;
  };

  State Initial() const {
    State s;
    for (NodeIndex n = 0; n < scheme_.nodes().size(); ++n) {
      s.nodes.push_back(std::make_shared<ExNode>(c_.scheme, n, host_options_, c_.restarts > 0));
    }
    s.clients.resize(c_.processes.size());
    s.ops.resize(total_ops_);
    return s;
  }

  const ExploreOp& OpOf(std::uint32_t process, std::uint32_t k) const {
    return c_.processes[process][k];
  }

  ExNode& Own(State& s, NodeIndex n) {
    std::shared_ptr<ExNode>* scratch = s.scratch ? &(*s.scratch)[n] : nullptr;
    if (scratch && *scratch && s.nodes[n] == *scratch) {
      // Made in the scratch already by this step.
    } else if (scratch && *scratch && scratch->use_count() == 1) {
      (*scratch)->Assign(*s.nodes[n]);
      s.nodes[n] = *scratch;
    } else if (s.nodes[n].use_count() > 1) {
      s.nodes[n] = std::make_shared<ExNode>(*s.nodes[n]);
      if (scratch && !*scratch) *scratch = s.nodes[n];
    }
    s.changed |= NodeBit(n);
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

  // The steps enabled in `s`, into `out` (reused: a state expanded asks once).
  void Enabled(const State& s, std::vector<ExploreStep>& out) const;
  void Apply(State& s, const ExploreStep& t);
  void ApplyInvoke(State& s, const ExploreStep& t, std::int64_t now);
  void ApplyRestart(State& s, const ExploreStep& t, std::int64_t now);
  void GiveUp(State& s, std::uint32_t p, std::int64_t now);
  // Operation `index`'s outcome is unknown. The checker lets an info operation take effect
  // at any time after its invocation or never: when it completed decides nothing, and a
  // read's whole record decides nothing (it returned no value), so neither is state.
  void MarkInfo(OpRec& rec, std::uint32_t index) const {
    rec.status = OpRec::kInfo;
    if (op_at_[index]->kind == OpKind::kRead) rec.before = 0;
  }
  // ExploreConfig::eager_clients: held calls given up, dead operations run.
  void EagerClients(State& s);
  // Every client has finished its operations.
  bool Finished(const State& s) const;
  // Whether delivering `m` from `before` (making `after`) is absorbed by a crash of its
  // sender: a Query whose receiver is unchanged and which sent nothing but its answer.
  bool Absorbed(const State& before, const State& after, const Message& m) const;
  void SyncAll(State& s);
  // Removes the dead messages in flight (ExploreConfig::drop_dead).
  void DropDead(State& s) const;
  // The canonical fingerprint; `chosen` gets the renaming that gives it.
  Fp Fingerprint(const State& s, Renaming* chosen) const;
  Fp FingerprintRenamed(const State& s, const Renaming& rename) const;
  Fp RestPart(const State& s, const Renaming& rename) const;
  Fp OpsPart(const State& s, const Renaming& rename) const;
  Fp CachedOpsPart(const State& s, const Renaming& rename) const;
  Fp NodesPart(const State& s, const Renaming& rename, Fp rest) const;
  // A renaming as an Entry packs it, and back.
  static std::uint64_t Pack(const Renaming& r);
  void Unpack(std::uint64_t packed, std::size_t nodes, Renaming* r) const;
  std::optional<std::string> CheckSafety(const State& s) const;
  std::optional<std::string> CheckLiveness(const State& s) const;
  std::string Describe(const State& before, const ExploreStep& t) const;
  void BuildSymmetry();
  void BuildGroup();
  // The nodes by their roles in every token (writer, reader, replica), leaving out `skip`.
  std::map<std::vector<std::uint8_t>, std::vector<NodeIndex>> RoleClasses(
      const std::vector<bool>& skip) const;
  void Finish(ExploreResult& r, std::vector<ExploreStep> path, const std::string& why, bool live);
  // What expanding a run of consecutive entries of one level gives (ExpandChunk), for
  // Merge to add to the search in the entries' order: each entry's successors with their
  // fingerprints, canonical renamings, sleep sets and safety verdicts.
  struct Successor {
    ExploreStep step;
    Fp fp;
    std::uint64_t rename = 0;       // packed as in Entry
    std::uint64_t history = 0;      // the history's fingerprint when an operation completed
    std::uint32_t sleep_begin = 0;  // in Chunk::keys
    std::uint32_t sleep_size = 0;
    std::int32_t violation = -1;  // in Chunk::violations
    bool checked = false;         // an operation completed: its history was checked
  };
  struct Parent {
    std::uint32_t succ_end = 0;  // its successors end here in Chunk::succs
    bool terminal = false;
    bool bounded = false;  // at the depth bound: not expanded
    bool cut = false;      // ... with steps enabled
    std::optional<std::string> liveness;
  };
  struct Chunk {
    std::size_t begin = 0;  // entries [begin, end) of the level
    std::size_t end = 0;
    std::vector<Parent> parents;
    std::vector<Successor> succs;
    std::vector<std::uint64_t> keys;
    std::vector<std::string> violations;
    void Clear() {
      parents.clear();
      succs.clear();
      keys.clear();
      violations.clear();
    }
  };
  // Expands entries [c.begin, c.end) of level `d` into `c`. Reads the levels, never the
  // visited set: threads run it side by side, each with its own `made`.
  void ExpandChunk(const std::vector<Level>& levels, std::size_t d, std::vector<Made>& made,
                   Chunk& c);
  // Adds chunk `c` of level `d` to the next level, in order, as one thread expanding the
  // entries one after the other would: successors not visited yet, or visited with some
  // of the steps they would put to sleep awake, join it. false when the search stops
  // (a violation, in `r`, or a bound, in r.stopped_by); `cut` notes the depth bound.
  bool Merge(std::vector<Level>& levels, std::size_t d, const Chunk& c, VisitedSet& visited,
             ExploreResult& r, bool& cut);
  bool ExpandLevel(std::vector<Level>& levels, std::size_t depth,
                   std::vector<std::vector<Made>>& made, VisitedSet& visited, ExploreResult& r,
                   bool& cut);
  // Whether the history violates safety, memoised by its fingerprint `key` (thread-safe).
  bool Violates(std::uint64_t key, const State& s);
  static std::uint64_t HistoryKey(const State& s);
  std::string BoundReached(std::size_t unique, std::size_t next, std::size_t bytes,
                           double now) const;
  sim::Scenario Counterexample(const std::vector<ExploreStep>& path, const std::string& why,
                               bool liveness, std::vector<std::string>* trace);

  const ExploreConfig& c_;
  const token::ReplicationScheme& scheme_;
  token::host::HostOptions host_options_;
  std::vector<std::uint32_t> op_offset_;
  std::uint32_t total_ops_ = 0;
  bool liveness_ = false;
  bool sync_steps_ = false;
  bool drop_dead_ = false;
  bool eager_clients_ = false;
  std::vector<const ExploreOp*> op_at_;  // by global operation index
  // By global operation index: invoked at a crashed coordinator, it is invisible to the
  // checker (a read, or a write whose value no other write of its token has).
  std::vector<bool> unseen_dead_;
  // Classes of interchangeable nodes (each sorted, at least two members), and the renaming
  // that makes each class one node.
  std::vector<std::vector<NodeIndex>> groups_;
  std::vector<NodeIndex> anonymous_;
  // When some symmetry moves processes: the whole group (the identity first), and a state's
  // fingerprint is the least over it (groups_ is then empty).
  std::vector<Symmetry> group_;
  std::mutex verdicts_mutex_;
  std::unordered_map<std::uint64_t, bool> verdicts_;  // violation or not, by history
  std::unordered_set<std::uint64_t> counted_;         // histories merged (Merge's order)
  std::uint64_t histories_checked_ = 0;
  std::chrono::steady_clock::time_point start_;  // Run's
  // The violation Merge found, made into a counterexample once the workers stopped.
  struct Pending {
    std::vector<ExploreStep> path;
    std::string why;
    bool liveness = false;
  };
  std::optional<Pending> pending_;
  double last_progress_ = 0;
  std::size_t levels_bytes_ = 0;
};

}  // namespace tokensim::explore_detail
