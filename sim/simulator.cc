#include "sim/simulator.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <tuple>
#include <variant>

#include <fmt/format.h>

#include "checker/history_writer.h"
#include "core/node.h"
#include "host/host.h"
#include "sim/random.h"
#include "sim/sim_delay.h"
#include "sim/sim_disk.h"
#include "sim/sim_events.h"

namespace sim {
namespace {

using token::ClientReply;
using token::ClientRequest;
using token::Message;
using token::OpKind;
using token::host::CallId;
using token::host::Host;
using token::host::JobId;
// The events, the delay model and a process's bookkeeping (sim/sim_events.h, sim_delay.h).
using sim_detail::BaseDelay;
using sim_detail::ClientTimeout;
using sim_detail::ClientWake;
using sim_detail::ComputeDone;
using sim_detail::DeliverMessage;
using sim_detail::DeliverReply;
using sim_detail::DeliverRequest;
using sim_detail::Digest;
using sim_detail::FaultEvent;
using sim_detail::HostTimer;
using sim_detail::Mix;
using sim_detail::NodeUp;
using sim_detail::Origin;
using sim_detail::Payload;
using sim_detail::Process;
using sim_detail::QueueEntry;
using sim_detail::StorageDone;

class Simulation {
 public:
  Simulation(const Scenario& s, const TraceSink& trace, std::vector<MessageRecord>* messages)
      : s_(s),
        scheme_(*s.scheme),
        trace_(trace),
        log_(messages),
        client_rng_(s.seed ^ kClientStream) {
    for (NodeIndex n = 0; n < scheme_.nodes().size(); ++n) {
      nodes_.push_back(std::make_unique<SimNode>(this, n));
    }
    std::uint32_t scripted = 0;
    for (const ScriptedOp& op : s.ops) scripted = std::max(scripted, op.process + 1);
    const std::uint32_t generated = s.workload ? s.workload->clients : 0;
    processes_.resize(scripted + generated);
    for (const ScriptedOp& op : s.ops) processes_[op.process].script.push_back(&op);
    for (auto& p : processes_) {
      std::stable_sort(
          p.script.begin(), p.script.end(),
          [](const ScriptedOp* a, const ScriptedOp* b) { return a->at_ns < b->at_ns; });
    }
    for (std::uint32_t i = 0; i < generated; ++i) {
      processes_[scripted + i].generated_left = s.workload->ops_per_client;
    }
    if (s.schedule) {
      for (const ScheduleStep& e : *s.schedule) {
        scheduled_.emplace(ScheduleKey{e.kind, e.who, e.n}, e.at_ns);
      }
    }
    if (s.workload) {
      workload_tokens_ = s.workload->tokens;
      if (workload_tokens_.empty()) {
        for (TokenIndex t = 0; t < scheme_.tokens().size(); ++t) workload_tokens_.push_back(t);
      }
    }
  }

  SimResult Run() {
    for (std::uint32_t p = 0; p < processes_.size(); ++p) {
      const Process& proc = processes_[p];
      std::int64_t first = proc.script.empty() ? kForever : proc.script.front()->at_ns;
      if (proc.generated_left > 0) first = std::min<std::int64_t>(first, Think());
      if (first != kForever) Schedule(first, ClientWake{p});
    }
    for (std::size_t i = 0; i < s_.faults.size(); ++i) Schedule(s_.faults[i].at_ns, FaultEvent{i});
    // An invocation and its completion per operation, plus a few retries.
    std::size_t expected_ops = 0;
    for (const Process& proc : processes_) expected_ops += proc.script.size() + proc.generated_left;
    result_.history.reserve(2 * expected_ops + expected_ops / 8);
    queue_.reserve(1024);
    slots_.reserve(1024);
    free_slots_.reserve(1024);

    while (!queue_.empty()) {
      if (result_.stats.events >= s_.max_events) {
        result_.stats.hit_event_limit = true;
        break;
      }
      std::pop_heap(queue_.begin(), queue_.end());
      const QueueEntry e = queue_.back();
      queue_.pop_back();
      if (e.time > s_.max_time_ns) {
        result_.stats.hit_time_limit = true;
        break;
      }
      now_ = e.time;
      ++result_.stats.events;
      Payload payload = std::move(slots_[e.slot]);
      free_slots_.push_back(e.slot);
      digest_.Add(static_cast<std::uint64_t>(now_));
      digest_.Add(payload.index());
      std::visit([this](auto& p) { Handle(p); }, payload);
      // Only a client that stops waiting can make the run done (AllDone walks them all).
      if (maybe_done_ && AllDone()) break;
      maybe_done_ = false;
    }
    for (const Process& p : processes_) result_.stats.ops_pending += p.busy ? 1 : 0;
    for (const auto& node : nodes_) {
      if (node->host) {
        AddHostStats(*node->host);
        result_.stats.calls_in_flight_end += node->host->calls_in_flight();
        result_.stats.operations_open_end += node->host->node().pending_operations();
      }
    }
    result_.stats.end_time_ns = now_;
    digest_.Add(result_.stats.ops_ok);
    digest_.Add(result_.stats.ops_info);
    result_.digest = digest_.value();
    return std::move(result_);
  }

 private:
  // Counts of a host, added when it ends (a restart) and at the end of the run.
  void AddHostStats(const Host& host) {
    const token::host::HostStats& h = host.stats();
    result_.stats.computes += h.computes_started;
    result_.stats.computes_cancelled += h.computes_cancelled;
    result_.stats.calls_abandoned += h.calls_abandoned;
    result_.stats.calls_timed_out += h.calls_timed_out;
    result_.stats.calls_refused_held += h.calls_refused_held_limit;
    result_.stats.storage_batches += h.storage_batches;
  }

  // ---- events -------------------------------------------------------------------------

  template <typename T>
  void Schedule(std::int64_t at, T payload) {
    std::uint32_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
      slots_[slot] = std::move(payload);
    } else {
      slot = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back(std::move(payload));
    }
    queue_.push_back(QueueEntry{at, next_seq_++, slot});
    std::push_heap(queue_.begin(), queue_.end());
  }

  bool AllDone() const {
    for (const Process& p : processes_) {
      if (p.busy || p.generated_left > 0 || p.script_next < p.script.size()) return false;
    }
    return true;
  }

  void Handle(DeliverMessage& d) {
    const Message& m = d.message;
    const SimNode& to = *nodes_[m.to];
    if (!to.host || to.incarnation != d.to_incarnation ||
        nodes_[m.from]->incarnation != d.from_incarnation) {
      ++result_.stats.messages_lost_restart;  // its connection died with a restart
      return;
    }
    ++result_.stats.messages_delivered;
    digest_.Add((static_cast<std::uint64_t>(m.type) << 48) ^ (std::uint64_t{m.from} << 32) ^
                (std::uint64_t{m.to} << 16) ^ m.token);
    digest_.Add(m.op_id);
    digest_.Add(m.vv.version);
    if (trace_) {
      Trace(fmt::format("deliver {} {} -> {} token {} op {} version {}",
                        token::MessageTypeName(m.type), scheme_.node(m.from), scheme_.node(m.to),
                        scheme_.token(m.token).id, m.op_id, m.vv.version));
    }
    Enter(d.origin);
    nodes_[m.to]->host->OnPeerMessage(m);
  }

  void Handle(DeliverRequest& d) {
    digest_.Add(d.request.request_id);
    if (trace_) {
      Trace(fmt::format("request {} {} token {} at {}", d.request.request_id,
                        token::OpKindName(d.request.kind), d.request.token, scheme_.node(d.node)));
    }
    // Like gRPC, the transport never hands the node a call whose deadline has passed.
    if (d.deadline_ns <= now_) return;
    Enter(d.origin);
    const std::uint64_t id = d.request.request_id;
    SimNode& node = *nodes_[d.node];
    if (!node.host) {
      // Connection refused: the process is down.
      SendReply(d.node, token::ErrorReply(d.request, token::Status::Unavailable(fmt::format(
                                                         "node {} is down (connection refused)",
                                                         scheme_.node(d.node)))));
      return;
    }
    node.host->OnClientCall(id, std::move(d.request), d.deadline_ns);
  }

  void Handle(ComputeDone& c) {
    SimNode& node = *nodes_[c.node];
    if (node.incarnation != c.incarnation || node.worker.empty() ||
        node.worker.front().id != c.job) {
      return;  // cancelled, or its node restarted
    }
    digest_.Add(c.job);
    SimNode::Job job = std::move(node.worker.front());
    node.worker.pop_front();
    const auto best = token::Argmin(job.request.name, job.request.from, job.request.to);
    if (trace_) {
      Trace(fmt::format("compute done at {} op {} x={}", scheme_.node(c.node), c.job,
                        best ? fmt::format("{}", best->x) : "-"));
    }
    if (!node.worker.empty()) StartHeadJob(node);
    Enter(job.origin);
    node.host->OnComputeDone(c.job, best);
  }

  void Handle(HostTimer& t) {
    SimNode& node = *nodes_[t.node];
    if (node.incarnation != t.incarnation) return;  // set by an earlier process
    digest_.Add(t.call);
    Enter(t.origin);
    node.host->OnTimer(t.call);
  }

  void Handle(StorageDone& d) {
    SimNode& node = *nodes_[d.node];
    if (node.incarnation != d.incarnation) return;  // the write died with its process
    digest_.Add(d.batch);
    Enter(d.origin);
    node.SyncDone(d.batch);
  }

  void Handle(NodeUp& u) {
    const Fault& fault = s_.faults[u.fault];
    SimNode& node = *nodes_[fault.node];
    digest_.Add(u.fault);
    Enter(Origin{FaultKey(u.fault), 0});
    node.Boot();
  }

  void Handle(FaultEvent& f) {
    const Fault& fault = s_.faults[f.index];
    digest_.Add(f.index);
    SimNode& node = *nodes_[fault.node];
    Enter(Origin{FaultKey(f.index), 0});
    if (fault.kind == FaultKind::kRestartNode) {
      GoDown(f.index);
      return;
    }
    if (!node.host) return;  // down: the crash lands on nothing (no durable mark)
    Host& host = *node.host;
    if (fault.kind == FaultKind::kCrashToken) {
      if (trace_) {
        Trace(fmt::format("crash {} for token {}", scheme_.node(fault.node),
                          scheme_.token(fault.token).id));
      }
      host.CrashToken(fault.token);
      return;
    }
    if (trace_) Trace(fmt::format("crash node {}", scheme_.node(fault.node)));
    for (TokenIndex t = 0; t < scheme_.tokens().size(); ++t) host.CrashToken(t);
  }

  void Handle(ClientWake& w) { MaybeStart(w.process); }

  void Handle(DeliverReply& d) {
    const ClientReply& r = d.reply;
    auto it = request_process_.find(r.request_id);
    if (it == request_process_.end()) return;
    const std::uint32_t pid = it->second;
    request_process_.erase(it);
    Process& p = processes_[pid];
    if (!p.busy || p.request_id != r.request_id) return;  // answered after its timeout
    digest_.Add(r.request_id);
    digest_.Add(r.version);
    if (!r.status.ok() && token::MayHaveTakenEffect(r.status.code())) {
      // The node gave up (no quorum in time): the operation may or may not take effect,
      // exactly as when the client itself gives up.
      GiveUp(pid, r.status.ToString());
      return;
    }
    p.busy = false;
    maybe_done_ = true;
    HistoryEvent ev =
        Event(pid, p, r.status.ok() ? HistoryEvent::Type::kOk : HistoryEvent::Type::kFail);
    if (r.status.ok()) {
      ++result_.stats.ops_ok;
      ev.has_version = true;
      ev.version = r.version;
      ev.value = r.value;
      ev.final_point = r.final_point;
    } else {
      ++result_.stats.ops_fail;
      ev.error = r.status.ToString();
    }
    if (trace_) {
      Trace(fmt::format("process {} {} {} token {}: {}", pid, r.status.ok() ? "ok" : "fail",
                        token::OpKindName(p.kind), scheme_.token(p.token).id,
                        r.status.ok() ? fmt::format("version {}", r.version) : ev.error));
    }
    result_.history.push_back(std::move(ev));
    Next(pid);
  }

  void Handle(ClientTimeout& t) {
    Process& p = processes_[t.process];
    if (!p.busy || p.request_id != t.request_id) return;
    digest_.Add(t.request_id);
    // The caller goes away: its node hears it at once, as a gRPC server hears a deadline.
    Enter(Origin{p.op_key, p.request_id});
    if (nodes_[p.node]->host) nodes_[p.node]->host->OnCallCancelled(p.request_id);
    GiveUp(t.process, "");
  }

  // Process `pid` stops waiting for its operation: `info` (it may or may not take effect);
  // a read may be retried at another reader.
  void GiveUp(std::uint32_t pid, std::string why) {
    Process& p = processes_[pid];
    request_process_.erase(p.request_id);
    p.busy = false;
    maybe_done_ = true;
    ++result_.stats.ops_info;
    if (trace_) {
      Trace(fmt::format("process {} gives up {}: {}", pid, p.request_id,
                        why.empty() ? "timeout" : why));
    }
    HistoryEvent info = Event(pid, p, HistoryEvent::Type::kInfo);
    info.error = std::move(why);  // empty: the client's own timeout
    result_.history.push_back(std::move(info));
    // A read that timed out may be retried at a reader not tried yet: the next one after
    // the last tried, in the scheme's order. No randomness: a scripted replay of these
    // clients (fuzz reduction) retries exactly as the original did.
    if (p.kind == OpKind::kRead && s_.retry_reads && !s_.schedule) {
      const auto& readers = scheme_.token(p.token).readers;
      const auto last = std::find(readers.begin(), readers.end(), p.node);
      const std::size_t start = last == readers.end() ? 0 : (last - readers.begin()) + 1;
      for (std::size_t k = 0; k < readers.size(); ++k) {
        const NodeIndex r = readers[(start + k) % readers.size()];
        if (std::find(p.tried.begin(), p.tried.end(), r) != p.tried.end()) continue;
        ++result_.stats.read_retries;
        Invoke(pid, OpKind::kRead, p.token, {}, r, p.op_nominal_ns);
        return;
      }
    }
    Next(pid);
  }

  // ---- clients ------------------------------------------------------------------------

  std::int64_t Think() {
    if (!s_.workload) return 0;
    return client_rng_.Between(s_.workload->think_min_ns, s_.workload->think_max_ns);
  }

  void Next(std::uint32_t pid) {
    Process& p = processes_[pid];
    if (p.script_next < p.script.size()) {
      Schedule(std::max(now_, p.script[p.script_next]->at_ns), ClientWake{pid});
    } else if (p.generated_left > 0) {
      Schedule(now_ + Think(), ClientWake{pid});
    }
  }

  void MaybeStart(std::uint32_t pid) {
    Process& p = processes_[pid];
    if (p.busy) return;
    if (p.script_next < p.script.size()) {
      const ScriptedOp& op = *p.script[p.script_next];
      if (op.at_ns > now_) {
        Schedule(op.at_ns, ClientWake{pid});
        return;
      }
      ++p.script_next;
      p.tried.clear();
      const NodeIndex node = op.node ? *op.node : Route(op.kind, op.token);
      result_.script.push_back(ScriptedOp{now_, pid, op.kind, op.token, op.domain, node});
      Invoke(pid, op.kind, op.token, op.domain, node, op.at_ns);
      return;
    }
    if (p.generated_left == 0) return;
    --p.generated_left;
    const Workload& w = *s_.workload;
    const TokenIndex t = workload_tokens_[client_rng_.Below(workload_tokens_.size())];
    const bool read = client_rng_.Below(1000) < w.read_permille;
    token::Domain d;
    if (!read) {
      const std::uint64_t span = 1 + client_rng_.Below(std::max<std::uint64_t>(w.domain_span, 1));
      d.low = client_rng_.Below(1000);
      d.mid = d.low + client_rng_.Below(span);
      d.high = d.low + span;
      d.name = fmt::format("p{}w{}", pid, p.generated_done);
    }
    ++p.generated_done;
    p.tried.clear();
    OpKind kind = read ? OpKind::kRead : OpKind::kWrite;
    // Drawn only when asked for, so that workloads without creates and drops run as before.
    if (!read && w.create_drop_permille > 0) {
      const std::uint64_t r = client_rng_.Below(2000);
      if (r < w.create_drop_permille * 2) {
        kind = r % 2 == 0 ? OpKind::kCreate : OpKind::kDrop;
        d = token::Domain{};
      }
    }
    const NodeIndex node = Route(kind, t);
    result_.script.push_back(ScriptedOp{now_, pid, kind, t, d, node});
    Invoke(pid, kind, t, std::move(d), node, now_);
  }

  NodeIndex Route(OpKind kind, TokenIndex t) {
    const token::TokenScheme& ts = scheme_.token(t);
    if (token::IsWriterOp(kind)) return ts.writer;
    return ts.readers[client_rng_.Below(ts.readers.size())];
  }

  // `nominal_ns`: when the operation was meant to start (a scripted operation's time, or
  // now for a generated one, which is what its script records); part of its identity.
  void Invoke(std::uint32_t pid, OpKind kind, TokenIndex t, token::Domain domain, NodeIndex node,
              std::int64_t nominal_ns) {
    Process& p = processes_[pid];
    p.op_nominal_ns = nominal_ns;
    p.op_key = OpKey(pid, nominal_ns, p.tried.size());
    p.busy = true;
    p.kind = kind;
    p.token = t;
    p.node = node;
    p.domain = std::move(domain);
    p.request_id = ++next_request_id_;
    p.tried.push_back(node);
    request_process_.emplace(p.request_id, pid);
    ++result_.stats.ops_invoked;
    HistoryEvent ev = Event(pid, p, HistoryEvent::Type::kInvoke);
    if (kind == OpKind::kWrite) {
      ev.value = token::RegisterValue::Data(token::TokenData{p.domain, std::nullopt});
    } else if (kind == OpKind::kCreate) {
      ev.value = token::RegisterValue::Empty();
    } else if (kind == OpKind::kDrop) {
      ev.value = token::RegisterValue::Dropped();
    }
    result_.history.push_back(std::move(ev));
    digest_.Add(p.request_id);
    digest_.Add((std::uint64_t{pid} << 32) ^ (std::uint64_t{node} << 8) ^
                static_cast<std::uint64_t>(kind));
    if (trace_) {
      Trace(fmt::format("process {} invoke {} token {} at {}", pid, token::OpKindName(kind),
                        scheme_.token(t).id, scheme_.node(node)));
    }
    ClientRequest req{p.request_id, kind, scheme_.token(t).id, p.domain};
    out_index_ = 0;
    ++p.invoked;
    const std::int64_t arrives =
        s_.schedule ? now_ + kScheduledHopNs : now_ + Delay(p.op_key, std::nullopt, node, 0);
    if (log_) {
      if (request_origin_.size() <= p.request_id) request_origin_.resize(p.request_id + 1);
      request_origin_[p.request_id] = {pid, t};
      log_->push_back(MessageRecord{MessageRecord::Kind::kRequest, static_cast<std::uint8_t>(kind),
                                    t, pid, node, now_, arrives, 0, p.request_id});
    }
    const std::int64_t deadline = s_.schedule
                                      ? Scheduled(ScheduleStep::Kind::kGiveUp, pid, p.invoked)
                                      : now_ + s_.client_timeout_ns;
    Schedule(arrives,
             DeliverRequest{node, std::move(req), deadline, Origin{p.op_key, p.request_id}});
    Schedule(deadline, ClientTimeout{pid, p.request_id});
  }

  HistoryEvent Event(std::uint32_t pid, const Process& p, HistoryEvent::Type type) const {
    HistoryEvent ev;
    ev.type = type;
    ev.process = pid;
    ev.kind = p.kind;
    ev.token = p.token;
    ev.time_ns = now_;
    ev.node = p.node;
    if (p.kind != OpKind::kRead && type != HistoryEvent::Type::kInvoke) {
      // Writes repeat their value on completion.
      if (p.kind == OpKind::kWrite) {
        ev.value = token::RegisterValue::Data(token::TokenData{p.domain, std::nullopt});
      } else {
        ev.value = p.kind == OpKind::kCreate ? token::RegisterValue::Empty()
                                             : token::RegisterValue::Dropped();
      }
    }
    return ev;
  }

  // ---- network and compute ------------------------------------------------------------

  // A message's delay is a function of its identity alone: the run's seed, the client
  // operation it descends from (OpKey: the process, when the operation was meant to start,
  // and which attempt; a fault's effects use FaultKey), its link (kind 0 = a client's
  // request to `to`, 1 = a reply from `to` to its client, 2 + n = from node n to `to`), its
  // message type, and its place among the outputs of the step that sent it. Removing an
  // operation while shrinking therefore leaves the delays of every other operation's
  // messages as they were; only the interleaving can change.
  std::uint64_t OpKey(std::uint32_t pid, std::int64_t nominal_ns, std::size_t attempt) const {
    return Mix(Mix(Mix(s_.seed, kOpStream ^ pid), static_cast<std::uint64_t>(nominal_ns)), attempt);
  }
  std::uint64_t FaultKey(std::size_t index) const { return Mix(s_.seed, kFaultStream ^ index); }

  // Delay of a message from `from` (nullopt: a client) to `to` sent now, descending from
  // the operation `key`; `reply` marks a reply from node `to` to its client; `type`
  // distinguishes message types on one link.
  std::int64_t Delay(std::uint64_t key, std::optional<NodeIndex> from, NodeIndex to,
                     std::uint64_t type, bool reply = false) {
    const std::uint64_t link = reply ? 1 : from ? 2 + *from : 0;
    Random rng(Mix(Mix(key, (link << 40) ^ (std::uint64_t{to} << 16) ^ type), out_index_++));
    std::int64_t delay = BaseDelay(rng, s_.delay);
    for (const LinkRule& rule : s_.links) {
      if (now_ < rule.start_ns || now_ >= rule.end_ns) continue;
      if (rule.from && (!from || *rule.from != *from)) continue;
      if (rule.to && *rule.to != to) continue;
      delay += rule.extra_ns;
    }
    return delay;
  }

  // ---- the world of each node's host (host/world.h) -----------------------------------

  // One node: its host (absent while the node is down), and the simulated world the host
  // sees: the virtual clock, the seeded network, one argmin worker that runs jobs in order
  // and drops cancelled ones, and a disk whose writes become durable when their sync
  // completes after a drawn latency, in order.
  class SimNode final : public token::host::Clock,
                        public token::host::Transport,
                        public token::host::ComputeRunner,
                        public token::host::Storage {
   public:
    struct Job {
      JobId id;
      token::ComputeRequest request;
      Origin origin;
      std::uint64_t n;  // the n-th job this node started (scheduled runs)
    };
    SimNode(Simulation* sim, NodeIndex node) : sim_(sim), self(node) {
      host = std::make_unique<Host>(sim->s_.scheme, self, sim->HostOptionsOf(), World());
    }

    std::int64_t NowNs() const override { return sim_->now_; }
    void StartTimer(std::int64_t at_ns, CallId call) override {
      sim_->Schedule(std::max(at_ns, sim_->now_),
                     HostTimer{self, incarnation, call, sim_->origin_});
    }
    void Send(const Message& m) override {
      ++sent;
      sim_->SendMessage(m, sent);
    }
    void AnswerClient(CallId, const ClientReply& reply) override { sim_->SendReply(self, reply); }
    void AnswerPeer(CallId, const token::Result<Message>&) override {
      TOKEN_ASSERT(false, "simulated nodes exchange messages, never unary peer calls");
    }
    void Start(JobId job, const token::ComputeRequest& request) override {
      worker.push_back(Job{job, request, sim_->origin_, ++jobs_started});
      if (worker.size() == 1) sim_->StartHeadJob(*this);
    }
    void Cancel(JobId job) override {
      auto it =
          std::find_if(worker.begin(), worker.end(), [job](const Job& j) { return j.id == job; });
      if (it == worker.end()) return;
      if (it != worker.begin()) {
        worker.erase(it);
        return;
      }
      // The running job stops now (its completion event is stale); the next one starts.
      worker.pop_front();
      if (!worker.empty()) sim_->StartHeadJob(*this);
    }
    void Write(token::host::BatchId batch, std::vector<token::TokenRecord> records) override {
      if (disk_.Write(batch, std::move(records))) StartSync();
    }
    // Group commit, as the real store does (sim/sim_disk.h).
    void StartSync() {
      const token::host::BatchId covers = disk_.StartSync();
      const std::int64_t at = sim_->s_.schedule ? sim_->Scheduled(ScheduleStep::Kind::kSync, self,
                                                                  disk_.syncs_started())
                                                : sim_->now_ + sim_->StorageDelay();
      sim_->Schedule(at, StorageDone{self, incarnation, covers, sim_->origin_});
    }
    // The sync covering batches up to `batch` completed; the next starts if writes wait.
    void SyncDone(token::host::BatchId batch) {
      disk_.SyncDone();
      host->OnStorageDone(batch);
      if (disk_.SyncWanted()) StartSync();
    }

    // The process dies. Unsynced writes survive when the machine does (`keep` of them
    // count: a prefix, in the order written; the next record is torn and dropped).
    void Die(std::size_t keep_records) {
      ++incarnation;
      host.reset();
      worker.clear();
      disk_.Die(keep_records);
    }
    std::size_t UnsyncedRecords() const { return disk_.UnsyncedRecords(); }
    void LoseDisk() { disk_.LoseDisk(); }

    // A new process starts from the disk: a replacement until the disk holds its
    // catch-up marks (as tokenserver refuses to take a data directory without them for a
    // node that is not new), a restart from the records after that.
    void Boot() {
      const token::StartMode mode = disk_.BootMode();
      if (sim_->trace_) {
        sim_->Trace(fmt::format("node {} comes back ({})", sim_->scheme_.node(self),
                                token::StartModeName(mode)));
      }
      host = std::make_unique<Host>(sim_->s_.scheme, self, sim_->HostOptionsOf(), World());
      host->Start(mode, disk_.BootRecords(), token::FirstOpIdOf(incarnation));
    }

   private:
    token::host::World World() {
      return {.clock = this, .transport = this, .compute = this, .storage = this};
    }
    Simulation* sim_;
    SimDisk disk_;

   public:
    const NodeIndex self;
    std::uint32_t incarnation = 0;  // bumped when the process dies
    std::unique_ptr<Host> host;     // null while down
    std::deque<Job> worker;         // the front one runs; job ids are unique per process
    // Messages sent and jobs started, across restarts (scheduled runs name them by these).
    std::uint64_t sent = 0;
    std::uint64_t jobs_started = 0;
  };

  // A restart fault: the process dies now (its calls end, its connections drop, writes
  // not synced may be lost) and comes back down_ns later.
  void GoDown(std::size_t index) {
    const Fault& fault = s_.faults[index];
    SimNode& node = *nodes_[fault.node];
    if (!node.host) return;  // already down
    ++result_.stats.restarts;
    AddHostStats(*node.host);
    const std::size_t unsynced = node.UnsyncedRecords();
    std::size_t keep = unsynced;
    if (fault.lose_unsynced) {
      Random rng(Mix(FaultKey(index), kStorageStream));
      keep = s_.schedule ? 0 : rng.Below(unsynced + 1);
    }
    result_.stats.records_lost += unsynced - keep;
    if (trace_) {
      Trace(fmt::format("node {} goes down for {} ns ({} of {} unsynced records kept{})",
                        scheme_.node(fault.node), fault.down_ns, keep, unsynced,
                        fault.disk_lost ? ", disk lost" : ""));
    }
    node.Die(keep);
    if (fault.disk_lost) node.LoseDisk();
    // Its clients see their connection drop.
    for (std::uint32_t pid = 0; pid < processes_.size(); ++pid) {
      const Process& p = processes_[pid];
      if (!p.busy || p.node != fault.node) continue;
      ClientRequest req{p.request_id, p.kind, scheme_.token(p.token).id, p.domain};
      SendReply(fault.node, token::ErrorReply(req, token::Status::Unavailable(fmt::format(
                                                       "connection to node {} lost: it went down",
                                                       scheme_.node(fault.node)))));
    }
    Schedule(now_ + fault.down_ns, NodeUp{index});
  }

  token::host::HostOptions HostOptionsOf() const {
    token::host::HostOptions h;
    h.node = s_.node_options;
    h.max_held_calls = s_.max_held_calls;
    h.max_calls_per_token = s_.max_calls_per_token;
    if (s_.schedule) {
      // Only the schedule ends a call: the node never gives up before its caller does, and
      // a replacement asks its peers once.
      h.give_up_margin_ns = 0;
      h.catch_up_retry_ns = kForever / 4;
    }
    return h;
  }

  // The host of a node is about to act on an input that descends from `origin`.
  void Enter(const Origin& origin) {
    origin_ = origin;
    out_index_ = 0;
  }

  void StartHeadJob(SimNode& node) {
    const SimNode::Job& job = node.worker.front();
    const std::int64_t cost =
        static_cast<std::int64_t>(job.request.to - job.request.from) * s_.compute_ns_per_hash;
    const std::int64_t at =
        s_.schedule ? std::max(now_, Scheduled(ScheduleStep::Kind::kCompute, node.self, job.n))
                    : now_ + cost;
    Schedule(at, ComputeDone{node.self, node.incarnation, job.id});
  }

  // `n`: the n-th message its sender sent (a scheduled run delivers it when its entry says).
  void SendMessage(const Message& m, std::uint64_t n) {
    ++result_.stats.messages_sent;
    const std::int64_t arrives = s_.schedule ? Scheduled(ScheduleStep::Kind::kDeliver, m.from, n)
                                             : now_ + Delay(origin_.key, m.from, m.to,
                                                            1 + static_cast<std::uint64_t>(m.type));
    if (log_) {
      log_->push_back(MessageRecord{MessageRecord::Kind::kNode, static_cast<std::uint8_t>(m.type),
                                    m.token, m.from, m.to, now_, arrives, m.vv.version,
                                    origin_.request_id});
    }
    Schedule(arrives,
             DeliverMessage{m, origin_, nodes_[m.from]->incarnation, nodes_[m.to]->incarnation});
  }

  // The reply travels back to the client like any message.
  void SendReply(NodeIndex at, const ClientReply& r) {
    const std::int64_t arrives =
        s_.schedule ? now_ + kScheduledHopNs : now_ + Delay(origin_.key, at, at, 0, /*reply=*/true);
    if (log_ && r.request_id < request_origin_.size()) {
      const auto [pid, t] = request_origin_[r.request_id];
      log_->push_back(MessageRecord{MessageRecord::Kind::kReply,
                                    r.status.ok() ? std::uint8_t{0} : std::uint8_t{1}, t, at, pid,
                                    now_, arrives, r.version, r.request_id});
    }
    Schedule(arrives, DeliverReply{r});
  }

  // When a scheduled run's entry (kind, who, n) happens; never (kForever) without one.
  std::int64_t Scheduled(ScheduleStep::Kind kind, std::uint32_t who, std::uint64_t n) const {
    auto it = scheduled_.find(ScheduleKey{kind, who, n});
    return it == scheduled_.end() ? kForever : it->second;
  }

  // Time to sync one storage write, from the write's identity like a message's delay.
  std::int64_t StorageDelay() {
    Random rng(Mix(Mix(origin_.key, kStorageStream), out_index_++));
    return BaseDelay(rng, s_.storage_delay);
  }

  void Trace(const std::string& what) {
    trace_(fmt::format("{:>16} {}",
                       fmt::format("{}.{:09}", now_ / 1'000'000'000, now_ % 1'000'000'000), what));
  }

  const Scenario& s_;
  const token::ReplicationScheme& scheme_;
  const TraceSink& trace_;
  std::vector<MessageRecord>* log_;  // null: not recording
  // request id -> (process, token), kept while recording (replies name only the request).
  std::vector<std::pair<std::uint32_t, TokenIndex>> request_origin_;
  // Randomness: the network's delays are hashes of each message's identity (Delay); the
  // clients' choices (operations, think times, routing) come from one stream. Clients
  // replayed from a script consume no client randomness, so a workload turned into
  // scripted operations meets the same network.
  static constexpr std::uint64_t kClientStream = 0xC1E47C1E47C1E47ULL;
  static constexpr std::uint64_t kOpStream = 0x0B5E55ED0B5E55EDULL;
  static constexpr std::uint64_t kFaultStream = 0xFA017FA017FA017ULL;
  static constexpr std::uint64_t kStorageStream = 0xD15CD15CD15CD15CULL;
  std::uint64_t out_index_ = 0;  // place of the next message among its step's outputs
  Random client_rng_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  Origin origin_{0, 0};  // of the input a host is acting on (Enter)
  std::vector<Process> processes_;
  std::vector<TokenIndex> workload_tokens_;
  std::vector<QueueEntry> queue_;
  bool maybe_done_ = true;  // a client stopped waiting since the last AllDone() (Run)
  std::vector<Payload> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::map<std::uint64_t, std::uint32_t> request_process_;
  // A scheduled run's entries: (kind, who, n) -> when.
  using ScheduleKey = std::tuple<ScheduleStep::Kind, std::uint32_t, std::uint64_t>;
  std::map<ScheduleKey, std::int64_t> scheduled_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t next_request_id_ = 0;
  std::int64_t now_ = 0;
  Digest digest_;
  SimResult result_;
};

checker::LineValue ToLineValue(const token::RegisterValue& v) {
  checker::LineValue out;
  switch (v.kind()) {
    case token::ValueKind::kInitial:
      out.kind = checker::LineValue::Kind::kInitial;
      break;
    case token::ValueKind::kEmpty:
      out.kind = checker::LineValue::Kind::kEmpty;
      break;
    case token::ValueKind::kDropped:
      out.kind = checker::LineValue::Kind::kDropped;
      break;
    case token::ValueKind::kData: {
      const auto& d = v.data().domain;
      out = checker::LineValue{checker::LineValue::Kind::kData, d.name, d.low, d.mid, d.high};
      break;
    }
  }
  return out;
}

}  // namespace

SimResult RunSimulation(const Scenario& scenario, const TraceSink& trace,
                        std::vector<MessageRecord>* messages) {
  return Simulation(scenario, trace, messages).Run();
}

std::string DigestHex(std::uint64_t digest) { return fmt::format("{:016x}", digest); }

std::string HistoryToJsonl(const Scenario& scenario, const std::vector<HistoryEvent>& history) {
  const auto& scheme = *scenario.scheme;
  std::string out;
  out.reserve(history.size() * 140);
  for (const HistoryEvent& e : history) {
    checker::HistoryLine line;
    line.process = e.process;
    line.type = e.type;
    line.read = e.kind == OpKind::kRead;
    line.token = scheme.token(e.token).id;
    if (e.kind != OpKind::kRead || e.type == HistoryEvent::Type::kOk) {
      line.value = ToLineValue(e.value);
    }
    if (e.has_version) line.version = e.version;
    line.time_ns = e.time_ns;
    line.node = scheme.node(e.node);
    if (e.kind != OpKind::kRead) line.op = token::OpKindName(e.kind);
    if (e.final_point) line.final_point = {e.final_point->x, e.final_point->hash};
    line.error = e.error;
    checker::AppendHistoryLine(out, line);
  }
  return out;
}

}  // namespace sim
