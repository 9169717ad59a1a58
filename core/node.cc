#include "core/node.h"

#include "base/text.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace token {

Node::Node(std::shared_ptr<const ReplicationScheme> scheme, NodeIndex self, NodeOptions options)
    : scheme_(std::move(scheme)), self_(self), options_(options) {
  TOKEN_ASSERT(scheme_ != nullptr, "a Node needs a scheme");
  TOKEN_ASSERT(self_ < scheme_->nodes().size(), "a Node must be one of the scheme's nodes");
  tokens_.resize(scheme_->tokens().size());
}

const Outputs& Node::Begin() {
  out_.clear();
  return out_;
}

std::optional<VersionedValue> Node::Stored(TokenIndex token) const {
  if (token >= tokens_.size() || !scheme_->token(token).IsReplica(self_)) return std::nullopt;
  return tokens_[token].stored;
}

bool Node::IsCrashed(TokenIndex token) const {
  return token < tokens_.size() && tokens_[token].crashed;
}

// ---- client requests ------------------------------------------------------------------

void Node::ReplyError(const ClientRequest& request, Status status) {
  out_.replies.push_back(ErrorReply(request, std::move(status)));
}

std::optional<Status> Node::Refusal(const ClientRequest& request, TokenIndex t) const {
  const TokenScheme& ts = scheme_->token(t);
  if (tokens_[t].catching_up) {
    if (ts.replicas.size() == 1) {
      return Status::Unavailable(fmt::format(
          "node {} lost its storage and is the only replica of token '{}': its data is gone; "
          "start the node as new to accept the loss",
          scheme_->node(self_), ts.id));
    }
    return Status::Unavailable(fmt::format(
        "node {} lost its storage and is catching token '{}' up from its peers; "
        "retry shortly{}",
        scheme_->node(self_), ts.id, IsWriterOp(request.kind) ? "" : " or at another reader"));
  }
  if (IsWriterOp(request.kind)) {
    if (ts.writer != self_) {
      return Status::FailedPrecondition(fmt::format(
          "node {} is not the writer of token '{}': send {} to its writer {}", scheme_->node(self_),
          ts.id, OpKindName(request.kind), scheme_->node(ts.writer)));
    }
    if (request.kind == OpKind::kWrite) {
      if (Status s = ValidateDomain(request.domain); !s.ok()) return s;
      const Domain& d = request.domain;
      if (d.high - d.low > options_.max_domain) {
        return Status::InvalidArgument(fmt::format(
            "token '{}': the domain [{}, {}) is too large: it holds {} values and the limit is "
            "{} (tokenserver --max-domain)",
            ts.id, d.low, d.high, d.high - d.low, options_.max_domain));
      }
    }
    return std::nullopt;
  }
  if (!ts.IsReader(self_)) {
    return Status::FailedPrecondition(
        fmt::format("node {} is not a reader of token '{}': its readers are {}",
                    scheme_->node(self_), ts.id, scheme_->NodeList(ts.readers)));
  }
  return std::nullopt;
}

const Outputs& Node::OnClientRequest(const ClientRequest& request) {
  Begin();
  const auto t = scheme_->FindToken(request.token);
  if (!t) {
    ReplyError(request,
               Status::NotFound(fmt::format("unknown token '{}': it is not in the replication "
                                            "scheme",
                                            Abbreviate(request.token))));
    return out_;
  }
  if (tokens_[*t].crashed) return out_;  // fail-silent: a crashed token answers nothing
  if (auto refusal = Refusal(request, *t)) {
    ReplyError(request, std::move(*refusal));
    return out_;
  }
  const std::uint64_t op_id = next_op_id_++;
  Operation op;
  op.request_id = request.request_id;
  op.kind = request.kind;
  op.token = *t;
  op.answered.assign(scheme_->token(*t).replicas.size(), false);
  if (request.kind == OpKind::kRead) {
    StartRead(op_id, std::move(op));
  } else {
    StartWriterOp(op_id, std::move(op), request);
  }
  return out_;
}

void Node::StartRead(std::uint64_t op_id, Operation op) {
  if (Is(Mutant::kReadLocalOnly) && scheme_->token(op.token).IsReplica(self_)) {
    // The planted bug: answer from the local replica, asking nobody.
    op.vv = tokens_[op.token].stored;
    op.phase = Phase::kDone;
    Operation& inserted = Insert(op_id, std::move(op));
    BeginReadCompletion(op_id, inserted);
    MaybeFinishRead(op_id, inserted);
    return;
  }
  op.phase = Phase::kQuery;
  Broadcast(MessageType::kQuery, op, op_id);
  Insert(op_id, std::move(op));
}

void Node::StartWriterOp(std::uint64_t op_id, Operation op, const ClientRequest& request) {
  op.vv.version = NextVersion(op.token);
  switch (request.kind) {
    case OpKind::kCreate:
      op.vv.value = RegisterValue::Empty();
      break;
    case OpKind::kDrop:
      op.vv.value = RegisterValue::Dropped();
      break;
    case OpKind::kWrite:
      op.vv.value = RegisterValue::Data(TokenData{request.domain, std::nullopt});
      if (request.domain.low < request.domain.mid) {
        // The partial argmin leaves the state machine; the Update waits for it.
        op.phase = Phase::kComputePartial;
        out_.computes.push_back(ComputeRequest{op_id, op.token, request.domain.name,
                                               request.domain.low, request.domain.mid,
                                               request.request_id});
        Insert(op_id, std::move(op));
        return;
      }
      break;
    case OpKind::kRead:
      TOKEN_ASSERT(false, "a read is not a writer operation");
  }
  StartUpdatePhase(op_id, Insert(op_id, std::move(op)));
}

std::uint64_t Node::NextVersion(TokenIndex token) {
  TokenState& state = tokens_[token];
  const std::uint64_t version = ++state.last_version;
  if (version > state.reserved_through) {
    // The Updates of this version leave only once the new reservation is durable.
    state.reserved_through = version + std::max<std::uint64_t>(options_.reserve_versions, 1) - 1;
    Persist(token);
  }
  return version;
}

TokenRecord Node::Record(TokenIndex token) const {
  TOKEN_ASSERT(token < tokens_.size(), "a record of a token outside the scheme");
  const TokenState& state = tokens_[token];
  return TokenRecord{token, state.stored, state.reserved_through, state.crashed, state.catching_up};
}

void Node::Persist(TokenIndex token) {
  ++stats_.records_written;
  out_.writes.push_back(Record(token));
}

// ---- peer messages --------------------------------------------------------------------

void Node::Broadcast(MessageType type, const Operation& op, std::uint64_t op_id) {
  for (const NodeIndex replica : scheme_->token(op.token).replicas) {
    Message m;
    m.type = type;
    m.from = self_;
    m.to = replica;
    m.token = op.token;
    m.op_id = op_id;
    if (type == MessageType::kUpdate) m.vv = op.vv;
    out_.messages.push_back(std::move(m));
  }
}

void Node::StartUpdatePhase(std::uint64_t op_id, Operation& op) {
  op.phase = Phase::kImpose;
  op.answers = 0;
  std::fill(op.answered.begin(), op.answered.end(), false);
  Broadcast(MessageType::kUpdate, op, op_id);
}

bool Node::CountAnswer(const Message& m, Operation& op) {
  const auto& replicas = scheme_->token(op.token).replicas;
  const auto pos = std::find(replicas.begin(), replicas.end(), m.from);
  if (pos == replicas.end()) return false;
  const auto i = static_cast<std::size_t>(pos - replicas.begin());
  if (op.answered[i]) return false;  // a duplicate delivery counts once
  op.answered[i] = true;
  ++op.answers;
  return true;
}

// Whether OnMessage(m) drops m at once: not for this node, an unknown or crashed token, or a
// request while the token catches up (a replica that may lack acknowledged values answers
// nothing).
bool Node::Drops(const Message& m) const {
  return Silenced(m) || (tokens_[m.token].catching_up && IsRequestType(m.type));
}

// Not for this node, an unknown token, or one crashed here: for good within a process (a
// crash mark is never taken back; the scheme never changes).
bool Node::Silenced(const Message& m) const {
  return m.to != self_ || m.token >= tokens_.size() || tokens_[m.token].crashed;
}

// Replica role: only members of the token's replica set talk to each other.
bool Node::RefusesRequest(const Message& m) const {
  const TokenScheme& ts = scheme_->token(m.token);
  return !ts.IsReplica(self_) || !ts.IsReplica(m.from);
}

std::map<std::uint64_t, Node::Operation>::const_iterator Node::AnsweredOp(const Message& m) const {
  auto it = operations_.find(m.op_id);
  if (Is(Mutant::kCountStaleAcks) && (it == operations_.end() || it->second.token != m.token)) {
    for (auto newest = operations_.rbegin(); newest != operations_.rend(); ++newest) {
      if (newest->second.token == m.token) return operations_.find(newest->first);
    }
  }
  if (it != operations_.end() && it->second.token != m.token) return operations_.end();
  return it;
}

bool Node::IgnoresForever(const Message& m) const {
  if (Silenced(m)) return true;
  if (IsRequestType(m.type)) return RefusesRequest(m);
  // An answer. Under count-stale-acks a later operation of the token may count it.
  if (Is(Mutant::kCountStaleAcks)) return false;
  const auto it = AnsweredOp(m);
  // Finished or abandoned: operation ids are never used twice within a process.
  if (it == operations_.end()) return m.op_id < next_op_id_;
  // Phases only move forward (query, impose, done): an answer to a phase left is never
  // counted again.
  const Phase phase = it->second.phase;
  if (m.type == MessageType::kQueryReply) return phase == Phase::kImpose || phase == Phase::kDone;
  return phase == Phase::kDone;
}

// A Query changes nothing at the replica; an Update changes nothing once the replica
// holds its version or a later one (stored versions only grow).
bool Node::AdoptsUpdate(const Message& m) const {
  return m.vv.version > tokens_[m.token].stored.version || Is(Mutant::kAdoptAnyVersion);
}

Message Node::AnswerTo(const Message& m) const {
  Message reply;
  reply.type = m.type == MessageType::kQuery ? MessageType::kQueryReply : MessageType::kUpdateAck;
  reply.from = self_;
  reply.to = m.from;
  reply.token = m.token;
  reply.op_id = m.op_id;
  if (m.type == MessageType::kQuery) reply.vv = tokens_[m.token].stored;
  return reply;
}

std::optional<Message> Node::OnlyAnswer(const Message& m) const {
  if (!IsRequestType(m.type) || Drops(m) || RefusesRequest(m)) return std::nullopt;
  if (m.type == MessageType::kUpdate && AdoptsUpdate(m)) return std::nullopt;
  return AnswerTo(m);
}

const Outputs& Node::OnMessage(const Message& m) {
  Begin();
  if (Drops(m)) {
    ++stats_.messages_ignored;
    return out_;
  }
  TokenState& state = tokens_[m.token];
  ++stats_.messages_handled;

  switch (m.type) {
    case MessageType::kQuery:
    case MessageType::kUpdate: {
      if (RefusesRequest(m)) {
        ++stats_.messages_ignored;
        return out_;
      }
      if (m.type == MessageType::kUpdate && AdoptsUpdate(m)) {
        state.stored = m.vv;
        Persist(m.token);
      }
      out_.messages.push_back(AnswerTo(m));  // an Update is acked either way
      return out_;
    }
    case MessageType::kQueryReply:
    case MessageType::kUpdateAck: {
      const auto found = AnsweredOp(m);
      if (found == operations_.end()) {
        ++stats_.messages_ignored;  // a late answer of a finished operation
        return out_;
      }
      const std::uint64_t op_id = found->first;
      Operation& op = operations_.find(op_id)->second;
      if (m.type == MessageType::kQueryReply) {
        OnQueryReply(m, op_id, op);
      } else {
        OnUpdateAck(m, op_id, op);
      }
      return out_;
    }
  }
  return out_;
}

void Node::OnQueryReply(const Message& m, std::uint64_t op_id, Operation& op) {
  if (op.phase == Phase::kCatchUp) {
    OnCatchUpReply(m, op_id, op);
    return;
  }
  if (op.phase != Phase::kQuery || !CountAnswer(m, op)) {
    ++stats_.messages_ignored;
    return;
  }
  if (op.answers == 1 || (m.vv.version > op.vv.version && !Is(Mutant::kFirstReplyWins))) {
    op.vv = m.vv;
    op.answers_at_highest = 1;
  } else if (m.vv.version == op.vv.version) {
    ++op.answers_at_highest;
  }
  const std::size_t quorum = Quorum(op.token);
  if (op.answers < quorum) return;

  BeginReadCompletion(op_id, op);
  const bool fast = options_.fast_read && op.answers_at_highest >= quorum;
  const bool mutant_fast = Is(Mutant::kReadSkipsImpose) || (Is(Mutant::kFastReadWithoutQuorum) &&
                                                            op.answers_at_highest + 1 >= quorum);
  if (fast || mutant_fast) {
    // A quorum stores this version already: any later read's quorum meets one of them.
    ++stats_.reads_fast;
    op.phase = Phase::kDone;
    MaybeFinishRead(op_id, op);
    return;
  }
  ++stats_.reads_imposed;
  StartUpdatePhase(op_id, op);
}

void Node::OnUpdateAck(const Message& m, std::uint64_t op_id, Operation& op) {
  if (op.phase != Phase::kImpose || !CountAnswer(m, op)) {
    ++stats_.messages_ignored;
    return;
  }
  const bool first_ack_is_enough = Is(Mutant::kWriteAnswersFirstAck) && op.kind != OpKind::kRead;
  if (op.answers < Quorum(op.token) && !first_ack_is_enough) return;
  op.phase = Phase::kDone;
  if (op.kind == OpKind::kRead) {
    MaybeFinishRead(op_id, op);
    return;
  }
  Reply(op, Status::Ok());
  Finish(op_id);
}

// ---- reads: the final argmin ----------------------------------------------------------

void Node::BeginReadCompletion(std::uint64_t op_id, Operation& op) {
  if (!op.vv.value.has_data()) return;  // initial, empty or dropped: nothing to compute
  TokenState& state = tokens_[op.token];
  if (state.final_version == op.vv.version) {
    ++stats_.final_cache_hits;
    op.final_point = state.final_point;
    return;
  }
  const Domain& d = op.vv.value.data().domain;
  op.waiting_final = true;
  out_.computes.push_back(ComputeRequest{op_id, op.token, d.name, d.mid, d.high, op.request_id});
}

void Node::MaybeFinishRead(std::uint64_t op_id, Operation& op) {
  if (op.phase != Phase::kDone || op.waiting_final) return;
  Reply(op, Status::Ok());
  Finish(op_id);
}

const Outputs& Node::OnComputeResult(const ComputeResult& result) {
  Begin();
  auto it = operations_.find(result.compute_id);
  if (it == operations_.end()) return out_;  // dropped by a crash
  Operation& op = it->second;
  TokenState& state = tokens_[op.token];
  if (op.kind == OpKind::kWrite && op.phase == Phase::kComputePartial) {
    TokenData data = op.vv.value.data();
    data.partial = result.best;
    op.vv.value = RegisterValue::Data(std::move(data));
    StartUpdatePhase(it->first, op);
    return out_;
  }
  TOKEN_ASSERT(op.kind == OpKind::kRead && op.waiting_final,
               "a compute result must match an outstanding compute request");
  op.waiting_final = false;
  op.final_point = CombineFinal(op.vv.value.data(), result.best);
  state.final_version = op.vv.version;
  state.final_point = op.final_point;
  MaybeFinishRead(it->first, op);
  return out_;
}

// ---- completion and crashes -----------------------------------------------------------

void Node::Reply(const Operation& op, Status status) {
  ClientReply r;
  r.request_id = op.request_id;
  r.kind = op.kind;
  r.status = std::move(status);
  r.version = op.vv.version;
  r.value = op.vv.value;
  r.final_point = op.final_point;
  out_.replies.push_back(std::move(r));
}

Node::Operation& Node::Insert(std::uint64_t op_id, Operation op) {
  if (op.phase != Phase::kCatchUp) op_by_request_[op.request_id] = op_id;
  auto [it, inserted] = operations_.emplace(op_id, std::move(op));
  TOKEN_ASSERT(inserted, "operation ids are unique");
  return it->second;
}

void Node::Finish(std::uint64_t op_id) {
  auto it = operations_.find(op_id);
  if (it == operations_.end()) return;
  auto r = op_by_request_.find(it->second.request_id);
  if (it->second.phase != Phase::kCatchUp && r != op_by_request_.end() && r->second == op_id) {
    op_by_request_.erase(r);
  }
  operations_.erase(it);
}

const Outputs& Node::OnAbandon(std::uint64_t request_id) {
  Begin();
  auto r = op_by_request_.find(request_id);
  if (r == op_by_request_.end()) return out_;  // already answered, dropped or unknown
  ++stats_.operations_abandoned;
  Finish(r->second);
  return out_;
}

std::size_t Node::Quorum(TokenIndex token) const {
  const TokenScheme& ts = scheme_->token(token);
  if (Is(Mutant::kMinorityQuorum)) return std::max<std::size_t>(1, ts.replicas.size() / 2);
  return ts.quorum;
}

namespace {

const MutantInfo* FindMutant(Mutant m) {
  for (const MutantInfo& info : kMutants) {
    if (info.mutant == m) return &info;
  }
  return nullptr;
}

}  // namespace

std::string_view MutantName(Mutant m) {
  if (m == Mutant::kNone) return "none";
  const MutantInfo* info = FindMutant(m);
  return info ? info->name : "unknown";
}

std::string_view MutantDescription(Mutant m) {
  if (m == Mutant::kNone) return "the correct protocol";
  const MutantInfo* info = FindMutant(m);
  return info ? info->description : "unknown";
}

bool MutantNeedsRestarts(Mutant m) {
  const MutantInfo* info = FindMutant(m);
  return info != nullptr && info->needs_restarts;
}

std::optional<Mutant> MutantFromName(std::string_view name) {
  if (name == "none") return Mutant::kNone;
  for (const MutantInfo& info : kMutants) {
    if (info.name == name) return info.mutant;
  }
  return std::nullopt;
}

std::string_view StartModeName(StartMode mode) {
  switch (mode) {
    case StartMode::kNew:
      return "new";
    case StartMode::kRestart:
      return "restart";
    case StartMode::kReplacement:
      return "replacement";
  }
  return "unknown";
}

const Outputs& Node::OnCrash(TokenIndex token) {
  Begin();
  TOKEN_ASSERT(token < tokens_.size(), "crash of a token outside the scheme");
  TokenState& state = tokens_[token];
  if (!state.crashed) {
    state.crashed = true;
    Persist(token);  // silent across restarts too
  }
  if (state.catching_up) {
    state.catching_up = false;
    for (const auto& [op_id, op] : operations_) {
      if (op.token == token && op.phase == Phase::kCatchUp) --catching_up_;
    }
  }
  std::erase_if(operations_, [token](const auto& kv) { return kv.second.token == token; });
  std::erase_if(op_by_request_,
                [this](const auto& kv) { return !operations_.contains(kv.second); });
  return out_;
}

// ---- fingerprints ---------------------------------------------------------------------

void Node::HashState(StateHasher& h, NodeRename rename) const {
  h.Add(StateHasher::Renamed(rename, self_));
  h.Add((static_cast<std::uint64_t>(started_) << 32) | catching_up_);
  h.Add(next_op_id_);
  for (const TokenState& t : tokens_) {
    h.Add((static_cast<std::uint64_t>(t.crashed) << 1) | static_cast<std::uint64_t>(t.catching_up));
    // A token crashed here decides nothing more: it stays silent, across restarts too (a
    // replacement starts from nothing), so what it held is not state.
    if (t.crashed) continue;
    h.Add(t.stored);
    h.Add(t.last_version);
    h.Add(t.reserved_through);
    h.Add(t.final_version ? *t.final_version + 1 : 0);
    h.Add(t.final_point);
  }
  h.Add(operations_.size());
  for (const auto& [op_id, op] : operations_) {
    h.Add(op_id);
    h.AddCall(op.request_id);
    h.Add((static_cast<std::uint64_t>(op.kind) << 16) |
          (static_cast<std::uint64_t>(op.phase) << 8) |
          static_cast<std::uint64_t>(op.waiting_final));
    h.Add(op.token);
    h.Add(op.vv);
    // Who answered, as a set of (renamed) nodes: the order of the replica list is not state.
    const auto& replicas = scheme_->token(op.token).replicas;
    std::uint64_t answered = 0;
    for (std::size_t i = 0; i < op.answered.size(); ++i) {
      if (!op.answered[i]) continue;
      std::uint64_t k = StateHasher::Renamed(rename, replicas[i]) + 0x9E3779B97F4A7C15ULL;
      k = (k ^ (k >> 29)) * 0xBF58476D1CE4E5B9ULL;
      answered += k ^ (k >> 32);
    }
    h.Add(answered);
    h.Add((static_cast<std::uint64_t>(op.answers) << 32) | op.answers_at_highest);
    h.Add(op.final_point);
  }
  // op_by_request_ is determined by operations_ (the request ids of its non-catch-up ops).
}

// ---- start and catch-up ----------------------------------------------------------------

const Outputs& Node::OnStart(StartMode mode, const std::vector<TokenRecord>& records,
                             std::uint64_t first_op_id) {
  Begin();
  TOKEN_ASSERT(!started_ && operations_.empty(), "OnStart comes once, before any other input");
  TOKEN_ASSERT(first_op_id >= 1, "operation ids start at 1 or later");
  started_ = true;
  next_op_id_ = Is(Mutant::kOpIdsRestartAtOne) ? 1 : first_op_id;
  if (mode == StartMode::kReplacement && Is(Mutant::kRejoinEmpty)) return out_;  // the bug
  if (mode == StartMode::kRestart) {
    for (const TokenRecord& r : records) {
      TOKEN_ASSERT(r.token < tokens_.size(), "a stored record names a token of the scheme");
      TokenState& state = tokens_[r.token];
      state.stored = r.stored;
      state.crashed = r.crashed;
      state.reserved_through = r.reserved_through;
      // Every version up to the reservation may have been handed out: resume after it.
      state.last_version = Is(Mutant::kWriterCounterInMemory) ? 0 : r.reserved_through;
      if (r.catching_up && !r.crashed) StartCatchUp(r.token);  // interrupted: start over
    }
    return out_;
  }
  TOKEN_ASSERT(records.empty(), "a new or replacement node starts with no records");
  if (mode == StartMode::kReplacement) {
    for (TokenIndex t = 0; t < tokens_.size(); ++t) {
      if (scheme_->token(t).IsReplica(self_)) StartCatchUp(t);
    }
  }
  return out_;
}

std::size_t Node::CatchUpAnswersNeeded(TokenIndex token) const {
  const TokenScheme& ts = scheme_->token(token);
  const std::size_t others = ts.replicas.size() - 1;
  // The writer must see every version its lost counter may have sent, even to a minority.
  if (ts.writer == self_) return others;
  // Any write quorum keeps at least quorum - 1 copies outside this node, and quorum of the
  // others meet them.
  return std::min(others, ts.quorum);
}

void Node::StartCatchUp(TokenIndex token) {
  TokenState& state = tokens_[token];
  state.catching_up = true;
  Persist(token);                                // a restart before the end resumes the catch-up
  if (CatchUpAnswersNeeded(token) == 0) return;  // its only replica: the data is gone
  ++catching_up_;
  const std::uint64_t op_id = next_op_id_++;
  Operation op;
  op.kind = OpKind::kRead;
  op.token = token;
  op.phase = Phase::kCatchUp;
  op.answered.assign(scheme_->token(token).replicas.size(), false);
  op.vv = state.stored;
  SendCatchUpQueries(op_id, Insert(op_id, std::move(op)));
}

void Node::SendCatchUpQueries(std::uint64_t op_id, const Operation& op) {
  const auto& replicas = scheme_->token(op.token).replicas;
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    if (replicas[i] == self_ || op.answered[i]) continue;
    Message m;
    m.type = MessageType::kQuery;
    m.from = self_;
    m.to = replicas[i];
    m.token = op.token;
    m.op_id = op_id;
    out_.messages.push_back(std::move(m));
  }
}

const Outputs& Node::OnRetryCatchUp() {
  Begin();
  for (const auto& [op_id, op] : operations_) {
    if (op.phase == Phase::kCatchUp) SendCatchUpQueries(op_id, op);
  }
  return out_;
}

void Node::OnCatchUpReply(const Message& m, std::uint64_t op_id, Operation& op) {
  if (m.from == self_ || !CountAnswer(m, op)) {
    ++stats_.messages_ignored;
    return;
  }
  if (m.vv.version > op.vv.version) op.vv = m.vv;
  if (op.answers < CatchUpAnswersNeeded(op.token)) return;
  TokenState& state = tokens_[op.token];
  if (op.vv.version > state.stored.version) state.stored = op.vv;
  if (scheme_->token(op.token).writer == self_) {
    // Versions up to the highest seen are taken; the next write reserves after them.
    state.last_version = std::max(state.last_version, state.stored.version);
    state.reserved_through = std::max(state.reserved_through, state.last_version);
  }
  state.catching_up = false;
  --catching_up_;
  ++stats_.tokens_caught_up;
  Persist(op.token);
  Finish(op_id);
}

}  // namespace token
