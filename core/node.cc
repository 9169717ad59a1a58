#include "core/node.h"

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

const Outputs& Node::OnClientRequest(const ClientRequest& request) {
  Begin();
  const auto t = scheme_->FindToken(request.token);
  if (!t) {
    ReplyError(request,
               Status::NotFound(fmt::format("unknown token '{}': it is not in the replication "
                                            "scheme",
                                            request.token)));
    return out_;
  }
  const TokenScheme& ts = scheme_->token(*t);
  TokenState& state = tokens_[*t];
  if (state.crashed) return out_;  // fail-silent: a crashed token answers nothing

  if (IsWriterOp(request.kind)) {
    if (ts.writer != self_) {
      ReplyError(request, Status::FailedPrecondition(fmt::format(
                              "node {} is not the writer of token '{}': send {} to its writer {}",
                              scheme_->node(self_), ts.id, OpKindName(request.kind),
                              scheme_->node(ts.writer))));
      return out_;
    }
    if (request.kind == OpKind::kWrite) {
      if (Status s = ValidateDomain(request.domain); !s.ok()) {
        ReplyError(request, std::move(s));
        return out_;
      }
    }
  } else if (!ts.IsReader(self_)) {
    ReplyError(request, Status::FailedPrecondition(fmt::format(
                            "node {} is not a reader of token '{}': its readers are {}",
                            scheme_->node(self_), ts.id, scheme_->NodeList(ts.readers))));
    return out_;
  }

  const std::uint64_t op_id = next_op_id_++;
  Operation op;
  op.request_id = request.request_id;
  op.kind = request.kind;
  op.token = *t;
  op.answered.assign(ts.replicas.size(), false);

  switch (request.kind) {
    case OpKind::kRead:
      if (Is(Mutant::kReadLocalOnly) && ts.IsReplica(self_)) {
        // The planted bug: answer from the local replica, asking nobody.
        op.vv = state.stored;
        op.phase = Phase::kDone;
        Operation& inserted = Insert(op_id, std::move(op));
        BeginReadCompletion(op_id, inserted);
        MaybeFinishRead(op_id, inserted);
        return out_;
      }
      op.phase = Phase::kQuery;
      Broadcast(MessageType::kQuery, op, op_id);
      Insert(op_id, std::move(op));
      return out_;
    case OpKind::kCreate:
      op.vv = VersionedValue{++state.last_version, RegisterValue::Empty()};
      break;
    case OpKind::kDrop:
      op.vv = VersionedValue{++state.last_version, RegisterValue::Dropped()};
      break;
    case OpKind::kWrite:
      op.vv.version = ++state.last_version;
      if (request.domain.low < request.domain.mid) {
        // The partial argmin leaves the state machine; the Update waits for it.
        op.phase = Phase::kComputePartial;
        op.vv.value = RegisterValue::Data(TokenData{request.domain, std::nullopt});
        out_.computes.push_back(ComputeRequest{op_id, *t, request.domain.name, request.domain.low,
                                               request.domain.mid, request.request_id});
        Insert(op_id, std::move(op));
        return out_;
      }
      op.vv.value = RegisterValue::Data(TokenData{request.domain, std::nullopt});
      break;
  }
  StartUpdatePhase(op_id, Insert(op_id, std::move(op)));
  return out_;
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

const Outputs& Node::OnMessage(const Message& m) {
  Begin();
  if (m.to != self_ || m.token >= tokens_.size() || tokens_[m.token].crashed) {
    ++stats_.messages_ignored;
    return out_;
  }
  const TokenScheme& ts = scheme_->token(m.token);
  TokenState& state = tokens_[m.token];
  ++stats_.messages_handled;

  switch (m.type) {
    case MessageType::kQuery:
    case MessageType::kUpdate: {
      // Replica role: only members of the token's replica set talk to each other.
      if (!ts.IsReplica(self_) || !ts.IsReplica(m.from)) {
        ++stats_.messages_ignored;
        return out_;
      }
      Message reply;
      reply.from = self_;
      reply.to = m.from;
      reply.token = m.token;
      reply.op_id = m.op_id;
      if (m.type == MessageType::kQuery) {
        reply.type = MessageType::kQueryReply;
        reply.vv = state.stored;
      } else {
        if (m.vv.version > state.stored.version || Is(Mutant::kAdoptAnyVersion)) {
          state.stored = m.vv;
        }
        reply.type = MessageType::kUpdateAck;
      }
      out_.messages.push_back(std::move(reply));
      return out_;
    }
    case MessageType::kQueryReply:
    case MessageType::kUpdateAck: {
      auto it = operations_.find(m.op_id);
      if (Is(Mutant::kCountStaleAcks) && (it == operations_.end() || it->second.token != m.token)) {
        for (auto newest = operations_.rbegin(); newest != operations_.rend(); ++newest) {
          if (newest->second.token == m.token) {
            it = operations_.find(newest->first);
            break;
          }
        }
      }
      if (it == operations_.end() || it->second.token != m.token) {
        ++stats_.messages_ignored;  // a late answer of a finished operation
        return out_;
      }
      if (m.type == MessageType::kQueryReply) {
        OnQueryReply(m, it->first, it->second);
      } else {
        OnUpdateAck(m, it->first, it->second);
      }
      return out_;
    }
  }
  return out_;
}

void Node::OnQueryReply(const Message& m, std::uint64_t op_id, Operation& op) {
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
  op_by_request_[op.request_id] = op_id;
  auto [it, inserted] = operations_.emplace(op_id, std::move(op));
  TOKEN_ASSERT(inserted, "operation ids are unique");
  return it->second;
}

void Node::Finish(std::uint64_t op_id) {
  auto it = operations_.find(op_id);
  if (it == operations_.end()) return;
  auto r = op_by_request_.find(it->second.request_id);
  if (r != op_by_request_.end() && r->second == op_id) op_by_request_.erase(r);
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

std::string_view MutantName(Mutant m) {
  switch (m) {
    case Mutant::kNone:
      return "none";
    case Mutant::kReadSkipsImpose:
      return "read-skips-impose";
    case Mutant::kWriteAnswersFirstAck:
      return "write-first-ack";
    case Mutant::kReadLocalOnly:
      return "read-local-only";
    case Mutant::kMinorityQuorum:
      return "minority-quorum";
    case Mutant::kCountStaleAcks:
      return "count-stale-acks";
    case Mutant::kAdoptAnyVersion:
      return "adopt-any-version";
    case Mutant::kFirstReplyWins:
      return "first-reply-wins";
    case Mutant::kFastReadWithoutQuorum:
      return "fast-read-without-quorum";
  }
  return "unknown";
}

std::string_view MutantDescription(Mutant m) {
  switch (m) {
    case Mutant::kNone:
      return "the correct protocol";
    case Mutant::kReadSkipsImpose:
      return "a read answers right after its query phase, without the impose";
    case Mutant::kWriteAnswersFirstAck:
      return "a write answers after the first ack instead of a quorum";
    case Mutant::kReadLocalOnly:
      return "a read answers from the coordinator's local replica only";
    case Mutant::kMinorityQuorum:
      return "quorums of floor(n/2) instead of a majority";
    case Mutant::kCountStaleAcks:
      return "acks and replies of an earlier operation count for the current one";
    case Mutant::kAdoptAnyVersion:
      return "a replica adopts any Update, not only a higher version";
    case Mutant::kFirstReplyWins:
      return "a read returns the first reply's value instead of the highest version";
    case Mutant::kFastReadWithoutQuorum:
      return "the fast read skips the impose one reply short of a quorum at the highest version";
  }
  return "unknown";
}

std::optional<Mutant> MutantFromName(std::string_view name) {
  if (name == "none") return Mutant::kNone;
  for (Mutant m : kAllMutants) {
    if (MutantName(m) == name) return m;
  }
  return std::nullopt;
}

const Outputs& Node::OnCrash(TokenIndex token) {
  Begin();
  TOKEN_ASSERT(token < tokens_.size(), "crash of a token outside the scheme");
  tokens_[token].crashed = true;
  std::erase_if(operations_, [token](const auto& kv) { return kv.second.token == token; });
  std::erase_if(op_by_request_,
                [this](const auto& kv) { return !operations_.contains(kv.second); });
  return out_;
}

}  // namespace token
