#include "host/host.h"

#include "base/text.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace token::host {
namespace {

std::string Describe(const VersionedValue& vv) {
  switch (vv.value.kind()) {
    case ValueKind::kInitial:
      return fmt::format("v{} initial", vv.version);
    case ValueKind::kEmpty:
      return fmt::format("v{} empty", vv.version);
    case ValueKind::kDropped:
      return fmt::format("v{} dropped", vv.version);
    case ValueKind::kData: {
      const Domain& d = vv.value.data().domain;
      return fmt::format("v{} {} [{},{},{})", vv.version, Abbreviate(d.name), d.low, d.mid, d.high);
    }
  }
  return "?";
}

}  // namespace

Host::Host(std::shared_ptr<const ReplicationScheme> scheme, NodeIndex self, HostOptions options,
           World world)
    : scheme_(std::move(scheme)),
      self_(self),
      self_name_(scheme_->node(self)),
      options_(std::move(options)),
      world_(world),
      node_(scheme_, self, options_.node),
      answers_before_durable_(options_.node.mutant == Mutant::kAckBeforeDurable),
      calls_per_token_(scheme_->tokens().size(), 0) {
  TOKEN_ASSERT(world_.clock && world_.transport && world_.compute && world_.storage,
               "a Host needs a clock, a transport, a compute runner and storage");
}

Host::Host(const Host& other, World world) : Host(other) {
  world_ = world;
  TOKEN_ASSERT(!other.acting_ && other.to_self_.empty(), "a host is copied between its calls");
  TOKEN_ASSERT(world_.clock && world_.transport && world_.compute && world_.storage,
               "a Host needs a clock, a transport, a compute runner and storage");
}

void Host::AssignState(const Host& other) {
  TOKEN_ASSERT(self_ == other.self_ && scheme_ == other.scheme_,
               "a host takes the state of a host of the same node");
  TOKEN_ASSERT(!acting_ && !other.acting_ && other.to_self_.empty(),
               "a host is copied between its calls");
  const World world = world_;
  *this = other;
  world_ = world;
}

void Host::HashState(StateHasher& h, NodeRename rename) const {
  node_.HashState(h, rename);
  // The calls as a set (a sum of their hashes): the same whatever their ids' order, which
  // a call-id map (StateHasher::MapCalls) may change.
  h.Add(calls_.size());
  std::uint64_t calls_lo = 0;
  std::uint64_t calls_hi = 0;
  for (const auto& [call, entry] : calls_) {
    StateHasher c;
    c.Add(h.Call(call));
    c.Add((static_cast<std::uint64_t>(entry.client) << 1) | static_cast<std::uint64_t>(entry.held));
    c.Add(entry.token ? *entry.token + 1 : 0);
    c.Add(static_cast<std::uint64_t>(entry.request.kind));
    c.Add(entry.request.token);
    calls_lo += c.low();
    calls_hi += c.high();
  }
  h.Add(calls_lo);
  h.Add(calls_hi);
  h.Add(jobs_.size());
  for (const auto& [job, request] : jobs_) {
    h.Add(job);
    h.Add(request.compute_id);
    h.Add(request.token);
    h.Add(request.from);
    h.Add(request.to);
    h.AddCall(request.request_id);
  }
  h.Add(waiting_.size());
  for (const Waiting& w : waiting_) {
    h.Add((static_cast<std::uint64_t>(w.kind) << 8) | static_cast<std::uint64_t>(w.message.type));
    h.Add(w.after - batches_durable_);  // (batch numbers count only against each other)
    // A client reply waits with an empty message: its nodes are no nodes (not renamed).
    if (w.kind != Waiting::Kind::kClientReply) {
      h.Add((std::uint64_t{StateHasher::Renamed(rename, w.message.from)} << 32) |
            StateHasher::Renamed(rename, w.message.to));
    }
    h.Add(w.message.token);
    h.Add(w.message.op_id);
    h.Add(w.message.vv);
    h.AddCall(w.call);
    h.AddCall(w.reply.request_id);
    h.Add(static_cast<std::uint64_t>(w.reply.status.code()));
    h.Add(w.reply.version);
    h.Add(w.reply.value);
    h.Add(w.reply.final_point);
  }
  // Storage progress as the batches issued and not yet durable: the host compares batch
  // numbers only with each other (its storage reports back the numbers it was given), so
  // two hosts that differ only in how many batches they wrote before act alike.
  h.Add(batches_issued_ - batches_durable_);
  h.Add(held_);
  // client_calls_ and calls_per_token_ follow from calls_ (hashed above).
}

void Host::Start(StartMode mode, const std::vector<TokenRecord>& records,
                 std::uint64_t first_op_id) {
  Act(node_.OnStart(mode, records, first_op_id));
  if (node_.catching_up()) {
    Log(fmt::format("[{}] started as a replacement: catching its tokens up from its peers",
                    self_name_));
    ArmCatchUpTimer();
  }
}

void Host::ArmCatchUpTimer() {
  world_.clock->StartTimer(world_.clock->NowNs() + options_.catch_up_retry_ns, kHostTimer);
}

std::int64_t GiveUpAt(const HostOptions& options, std::int64_t now_ns,
                      std::optional<std::int64_t> deadline_ns) {
  // The op timeout applies only when the caller set no deadline; with one, the call gives
  // up a little before the caller does, so the caller hears why.
  if (!deadline_ns) return now_ns + options.op_timeout_ns;
  const std::int64_t allowed = std::max<std::int64_t>(*deadline_ns - now_ns, 0);
  std::int64_t margin = allowed / std::max<std::int64_t>(options.give_up_share, 1);
  margin = std::clamp(margin, options.give_up_min_margin_ns,
                      std::max(options.give_up_min_margin_ns, options.give_up_margin_ns));
  return *deadline_ns - std::min(margin, allowed / 2);
}

// ---- inputs ---------------------------------------------------------------------------

void Host::OnClientCall(CallId call, ClientRequest request,
                        std::optional<std::int64_t> deadline_ns) {
  ++stats_.client_calls;
  request.request_id = call;
  const std::optional<TokenIndex> token = scheme_->FindToken(request.token);
  if (auto refusal = Bound(token)) {
    world_.transport->AnswerClient(call, ErrorReply(request, std::move(*refusal)));
    return;
  }
  const std::int64_t now = world_.clock->NowNs();
  auto [it, inserted] = calls_.try_emplace(call);
  TOKEN_ASSERT(inserted, "a call id is unique among the calls in flight");
  it->second.request = request;
  it->second.token = token;
  it->second.started_ns = now;
  ++client_calls_;
  if (token) ++calls_per_token_[*token];
  Act(node_.OnClientRequest(request));
  it = calls_.find(call);
  if (it == calls_.end()) return;  // answered at once (an error, or a local read)
  if (it->second.token && node_.IsCrashed(*it->second.token)) {
    Hold(it->second);  // fail-silent: ends when the caller gives up
    return;
  }
  world_.clock->StartTimer(GiveUpAt(options_, now, deadline_ns), call);
}

std::optional<Status> Host::Bound(const std::optional<TokenIndex>& token) {
  if (token) {
    const TokenScheme& ts = scheme_->token(*token);
    if (calls_per_token_[*token] >= options_.max_calls_per_token) {
      ++stats_.calls_refused_token_limit;
      return Status::ResourceExhausted(fmt::format(
          "node {} has {} calls about token '{}' in flight already ({}; at most {} per token)",
          self_name_, calls_per_token_[*token], ts.id,
          node_.IsCrashed(*token) ? "held: the token crashed here" : "waiting for a quorum",
          options_.max_calls_per_token));
    }
    if (node_.IsCrashed(*token) && held_ >= options_.max_held_calls) {
      ++stats_.calls_refused_held_limit;
      return Status::ResourceExhausted(
          fmt::format("node {} holds {} calls for crashed tokens already (at most {})", self_name_,
                      held_, options_.max_held_calls));
    }
  }
  if (client_calls_ >= options_.max_calls) {
    ++stats_.calls_refused_node_limit;
    return Status::ResourceExhausted(
        fmt::format("node {} has {} calls in flight already (at most {})", self_name_,
                    client_calls_, options_.max_calls));
  }
  return std::nullopt;
}

Host::CallEntry Host::TakeCall(std::map<CallId, CallEntry>::iterator it) {
  CallEntry entry = std::move(it->second);
  calls_.erase(it);
  if (entry.held) --held_;
  if (entry.client) {
    --client_calls_;
    if (entry.token) --calls_per_token_[*entry.token];
  }
  return entry;
}

void Host::OnPeerCall(CallId call, const Message& m) {
  TOKEN_ASSERT(m.to == self_ && m.token < scheme_->tokens().size(),
               "a peer call is addressed to this node about a known token");
  const TokenScheme& ts = scheme_->token(m.token);
  if (!ts.IsReplica(m.from) || !ts.IsReplica(self_)) {
    ++stats_.peer_messages_rejected;
    world_.transport->AnswerPeer(
        call, Status::PermissionDenied(
                  fmt::format("token '{}': replica calls come only from and to its replicas ({})",
                              ts.id, scheme_->NodeList(ts.replicas))));
    return;
  }
  const MessageType want =
      m.type == MessageType::kUpdate ? MessageType::kUpdateAck : MessageType::kQueryReply;
  // The replica answers within this one input; its reply becomes the call's response. The
  // outputs are copied: the reply is taken out before the rest is acted on.
  Outputs out = node_.OnMessage(m);
  auto reply = std::find_if(out.messages.begin(), out.messages.end(), [&](const Message& r) {
    return r.to == m.from && r.type == want && r.op_id == m.op_id && r.token == m.token;
  });
  if (reply == out.messages.end()) {
    // Crashed here: silent, the call ends when its caller gives up.
    CallEntry& entry = calls_[call];
    entry.client = false;
    entry.token = m.token;
    entry.started_ns = world_.clock->NowNs();
    Hold(entry);
    Act(out);
    return;
  }
  const Message answer = *reply;
  out.messages.erase(reply);
  Act(out);
  if (!MustWait(!out.writes.empty(), answer.type)) {
    world_.transport->AnswerPeer(call, answer);
    return;
  }
  // The answer waits for storage; a cancel before then ends the call.
  CallEntry& entry = calls_[call];
  entry.client = false;
  entry.token = m.token;
  entry.started_ns = world_.clock->NowNs();
  ++stats_.outputs_held_durable;
  waiting_.push_back(
      Waiting{Waiting::Kind::kPeerAnswer, batches_issued_, answer, call, ClientReply{}});
}

void Host::OnPeerMessage(const Message& m) {
  ++stats_.peer_messages_in;
  TOKEN_ASSERT(m.to == self_ && m.token < scheme_->tokens().size(),
               "a peer message is addressed to this node about a known token");
  const TokenScheme& ts = scheme_->token(m.token);
  if (!ts.IsReplica(m.from)) {
    ++stats_.peer_messages_rejected;
    if (rejection_logged_.insert({m.from, ts.id}).second) {
      Log(
          fmt::format("[{}] rejected a message from {} about token '{}': not one of its "
                      "replicas; further ones are counted",
                      self_name_, scheme_->node(m.from), ts.id));
    }
    return;
  }
  Act(node_.OnMessage(m));
}

void Host::OnUndecodablePeerMessage(NodeIndex from, std::string_view token) {
  ++stats_.peer_messages_in;
  ++stats_.peer_messages_rejected;
  if (rejection_logged_.size() < kMaxRejectionsLogged &&
      rejection_logged_.insert({from, Abbreviate(token)}).second) {
    Log(
        fmt::format("[{}] rejected a message from {} about token '{}' (unknown token, type or "
                    "malformed value); further ones are counted",
                    self_name_, scheme_->node(from), Abbreviate(token)));
  }
}

void Host::OnCallCancelled(CallId call) {
  auto it = calls_.find(call);
  if (it == calls_.end()) return;  // answered already
  ++stats_.calls_abandoned;
  Abandon(call);
  const CallEntry entry = TakeCall(it);
  const Status why = Status::Cancelled("the caller went away");
  if (entry.client) {
    world_.transport->AnswerClient(call, ErrorReply(entry.request, why));
  } else {
    world_.transport->AnswerPeer(call, why);
  }
}

void Host::OnTimer(CallId call) {
  if (call == kHostTimer) {
    if (!node_.catching_up()) return;
    Act(node_.OnRetryCatchUp());
    ArmCatchUpTimer();
    return;
  }
  auto it = calls_.find(call);
  if (it == calls_.end() || it->second.held || !it->second.client) return;
  ++stats_.calls_timed_out;
  // Read before Abandon cancels it: a job still running is why the call ran out of time.
  std::optional<ComputeRequest> computing;
  if (const ComputeRequest* job = JobOf(call)) computing = *job;
  Abandon(call);
  const CallEntry entry = TakeCall(it);
  const std::int64_t waited_ms = (world_.clock->NowNs() - entry.started_ns) / 1'000'000;
  std::string message;
  if (computing && entry.token) {
    // A write computing its partial has sent no Update: it never takes effect.
    const bool write = entry.request.kind == OpKind::kWrite;
    message = fmt::format(
        "token '{}': ran out of time computing the argmin over {} values ([{}, {}) of '{}') "
        "within {} ms{}",
        scheme_->token(*entry.token).id, computing->to - computing->from, computing->from,
        computing->to, computing->name, waited_ms, write ? "; the write did not take effect" : "");
  } else if (entry.token) {
    const TokenScheme& ts = scheme_->token(*entry.token);
    message =
        fmt::format("token '{}': no quorum of its replicas ({}; quorum {}) answered within {} ms{}",
                    ts.id, scheme_->NodeList(ts.replicas), ts.quorum, waited_ms,
                    IsWriterOp(entry.request.kind) ? "; the write may or may not take effect" : "");
  } else {
    message = fmt::format("no answer within {} ms", waited_ms);
  }
  const ClientReply reply = ErrorReply(entry.request, Status::Unavailable(std::move(message)));
  if (options_.log_requests) LogReply(entry, reply);
  world_.transport->AnswerClient(call, reply);
}

void Host::OnStorageDone(BatchId batch) {
  TOKEN_ASSERT(batch <= batches_issued_, "storage reports only batches it was given");
  batches_durable_ = std::max(batches_durable_, batch);
  while (!waiting_.empty() && waiting_.front().after <= batches_durable_) {
    const Waiting w = std::move(waiting_.front());
    waiting_.pop_front();
    Release(w);
  }
}

void Host::Release(const Waiting& w) {
  switch (w.kind) {
    case Waiting::Kind::kSend:
      world_.transport->Send(w.message);
      return;
    case Waiting::Kind::kToSelf:
      Act(node_.OnMessage(w.message));
      return;
    case Waiting::Kind::kPeerAnswer: {
      auto it = calls_.find(w.call);
      if (it == calls_.end()) return;  // its caller went away meanwhile
      TakeCall(it);
      world_.transport->AnswerPeer(w.call, w.message);
      return;
    }
    case Waiting::Kind::kClientReply:
      if (!calls_.contains(w.reply.request_id)) return;  // its caller went away meanwhile
      Answer(w.reply);
      return;
  }
}

void Host::OnComputeDone(JobId job, std::optional<HashPoint> best) {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return;  // cancelled
  jobs_.erase(it);
  Act(node_.OnComputeResult(ComputeResult{job, best}));
}

bool Host::CrashToken(TokenIndex token) {
  TOKEN_ASSERT(token < scheme_->tokens().size(), "CrashToken of a known token");
  const bool was_crashed = node_.IsCrashed(token);
  Act(node_.OnCrash(token));
  // Calls about the token fall silent; their computations stop.
  for (auto& [call, entry] : calls_) {
    if (entry.token == token && !entry.held) {
      Hold(entry);
      CancelJobOf(call);
    }
  }
  return was_crashed;
}

void Host::Shutdown(std::string_view why) {
  std::map<CallId, CallEntry> calls;
  calls.swap(calls_);
  for (auto& [call, entry] : calls) {
    node_.OnAbandon(call);
    if (entry.client) {
      world_.transport->AnswerClient(
          call, ErrorReply(entry.request, Status::Unavailable(std::string(why))));
    } else {
      world_.transport->AnswerPeer(call, Status::Unavailable(std::string(why)));
    }
  }
  held_ = 0;
  client_calls_ = 0;
  std::fill(calls_per_token_.begin(), calls_per_token_.end(), 0);
  waiting_.clear();
  for (const auto& [job, request] : jobs_) world_.compute->Cancel(job);
  stats_.computes_cancelled += jobs_.size();
  jobs_.clear();
}

// ---- acting on the core's outputs -----------------------------------------------------

void Host::Act(const Outputs& out) {
  if (acting_) {
    Take(out);
    return;
  }
  acting_ = true;
  Take(out);
  while (to_self_next_ < to_self_.size()) {
    const Message m = std::move(to_self_[to_self_next_++]);
    Take(node_.OnMessage(m));
  }
  to_self_.clear();
  to_self_next_ = 0;
  acting_ = false;
}

bool Host::MustWait(bool wrote, MessageType type) const {
  const bool replica_answer = !IsRequestType(type);
  if (replica_answer && answers_before_durable_) return false;  // the planted bug
  if (wrote) return true;
  // An Update may carry a version whose reservation an earlier input wrote (a write
  // whose partial argmin ran in between): it waits like the answers.
  return type != MessageType::kQuery && batches_durable_ < batches_issued_;
}

void Host::Take(const Outputs& out) {
  // `out` is valid until the next call into node_: everything is taken out here.
  const bool wrote = !out.writes.empty();
  if (wrote) {
    ++stats_.storage_batches;
    world_.storage->Write(++batches_issued_, out.writes);
  }
  for (const Message& m : out.messages) {
    TOKEN_ASSERT(m.from == self_, "a node sends only as itself");
    const bool to_self = m.to == self_;
    if (MustWait(wrote, m.type)) {
      ++stats_.outputs_held_durable;
      waiting_.push_back(Waiting{to_self ? Waiting::Kind::kToSelf : Waiting::Kind::kSend,
                                 batches_issued_, m, 0, ClientReply{}});
    } else if (to_self) {
      to_self_.push_back(m);
    } else {
      world_.transport->Send(m);
    }
  }
  for (const ComputeRequest& c : out.computes) {
    ++stats_.computes_started;
    jobs_[c.compute_id] = c;
    world_.compute->Start(c.compute_id, c);
  }
  for (const ClientReply& r : out.replies) {
    if (!wrote) {
      Answer(r);
      continue;
    }
    auto it = calls_.find(r.request_id);
    TOKEN_ASSERT(it != calls_.end() && it->second.client && !it->second.held,
                 "the core answers only a client call in flight, and only once");
    ++stats_.outputs_held_durable;
    waiting_.push_back(Waiting{Waiting::Kind::kClientReply, batches_issued_, Message{}, 0, r});
  }
}

void Host::Answer(const ClientReply& reply) {
  auto it = calls_.find(reply.request_id);
  TOKEN_ASSERT(it != calls_.end() && it->second.client && !it->second.held,
               "the core answers only a client call in flight, and only once");
  if (options_.log_requests) LogReply(it->second, reply);
  TakeCall(it);
  world_.transport->AnswerClient(reply.request_id, reply);
}

void Host::Abandon(CallId call) {
  Act(node_.OnAbandon(call));
  CancelJobOf(call);
}

void Host::Hold(CallEntry& entry) {
  if (entry.held) return;
  entry.held = true;
  ++held_;
}

const ComputeRequest* Host::JobOf(std::uint64_t request_id) const {
  for (const auto& [job, request] : jobs_) {
    if (request.request_id == request_id) return &request;
  }
  return nullptr;
}

void Host::CancelJobOf(std::uint64_t request_id) {
  // An operation has at most one job at a time, and few jobs run at once: a scan is cheaper
  // than an inverse map kept on every compute.
  auto it = std::find_if(jobs_.begin(), jobs_.end(), [request_id](const auto& job) {
    return job.second.request_id == request_id;
  });
  if (it == jobs_.end()) return;
  const JobId job = it->first;
  jobs_.erase(it);
  ++stats_.computes_cancelled;
  world_.compute->Cancel(job);
}

// ---- logs -----------------------------------------------------------------------------

void Host::Log(std::string_view line) const {
  if (options_.log) options_.log(line);
}

void Host::LogReply(const CallEntry& entry, const ClientReply& reply) const {
  if (!options_.log) return;
  const ClientRequest& q = entry.request;
  std::string request = fmt::format("{} '{}'", OpKindName(q.kind), Abbreviate(q.token));
  if (q.kind == OpKind::kWrite) {
    request += fmt::format(" {} [{},{},{})", Abbreviate(q.domain.name), q.domain.low, q.domain.mid,
                           q.domain.high);
  }
  const std::int64_t us = (world_.clock->NowNs() - entry.started_ns) / 1000;
  if (!reply.status.ok()) {
    Log(fmt::format("[{}] {} -> {}: {} ({} us)", self_name_, request,
                    StatusCodeName(reply.status.code()), reply.status.message(), us));
    return;
  }
  std::string result = Describe(VersionedValue{reply.version, reply.value});
  if (reply.value.has_data() && reply.value.data().partial) {
    result += fmt::format(" partial x={} hash={}", reply.value.data().partial->x,
                          reply.value.data().partial->hash);
  }
  if (reply.final_point) {
    result += fmt::format(" final x={} hash={}", reply.final_point->x, reply.final_point->hash);
  }
  std::string state;
  if (entry.token) {
    if (auto stored = node_.Stored(*entry.token)) state = " | replica " + Describe(*stored);
  }
  Log(fmt::format("[{}] {} -> ok {} ({} us){}", self_name_, request, result, us, state));
}

}  // namespace token::host
