// NodeServer's host world on the executor thread (net_grpc/node_server_impl.h): timers, the
// messages it sends, the answers to calls, storage, compute jobs, and what it reports.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/text.h"
#include "core/token_hash.h"
#include "net_grpc/node_server_impl.h"

namespace token::net {
namespace {

constexpr std::size_t kStatusNameBytes = 64;

}  // namespace

// ---- executor thread: the world of the host -----------------------------------------------

void NodeServer::Impl::StartTimer(std::int64_t at_ns, host::CallId call) {
  const SteadyClock::time_point at{std::chrono::nanoseconds(at_ns)};
  executor_->PostAt(at, [this, call] { host_.OnTimer(call); });
}

void NodeServer::Impl::Send(const Message& m) {
  PeerSender* link = links_[m.to].get();
  TOKEN_ASSERT(link != nullptr, "a node sends only to nodes it shares a token with");
  pb::PeerMessage pm;
  pm.set_type(ToProto(m.type));
  pm.set_token(scheme_->token(m.token).id);
  pm.set_op_id(m.op_id);
  if (m.type == MessageType::kQueryReply || m.type == MessageType::kUpdate) {
    ToProto(m.vv, pm.mutable_value());
  }
  link->Add(std::move(pm));
}

NodeServer::Impl::Call* NodeServer::Impl::TakeCall(host::CallId id) {
  auto it = calls_.find(id);
  TOKEN_ASSERT(it != calls_.end(), "the host answers only calls in flight");
  Call* call = it->second;
  calls_.erase(it);
  return call;
}

void NodeServer::Impl::AnswerClient(host::CallId id, const ClientReply& reply) {
  Call* call = TakeCall(id);
  const grpc::Status status = reply.status.ok() ? grpc::Status::OK : ToGrpc(reply.status);
  metrics_.OpDone(call->op_, status.error_code(), SteadyClock::now() - call->started_);
  if (!reply.status.ok()) {
    call->Complete(status);
    return;
  }
  auto* r = static_cast<pb::TokenReply*>(call->response_.get());
  ToProto(reply, r);
  r->set_node(self_name_);
  call->Complete(grpc::Status::OK);
}

void NodeServer::Impl::AnswerPeer(host::CallId id, const Result<Message>& reply) {
  Call* call = TakeCall(id);
  if (!reply.ok()) {
    call->Complete(ToGrpc(reply.status()));
    return;
  }
  const Message& m = reply.value();
  const std::string& token = scheme_->token(m.token).id;
  if (m.type == MessageType::kQueryReply) {
    auto* r = static_cast<pb::PeerMessage*>(call->response_.get());
    r->set_type(pb::QUERY_REPLY);
    r->set_token(token);
    r->set_op_id(m.op_id);
    ToProto(m.vv, r->mutable_value());
  } else {
    auto* r = static_cast<pb::UpdateAck*>(call->response_.get());
    r->set_token(token);
    r->set_op_id(m.op_id);
  }
  call->Complete(grpc::Status::OK);
}

void NodeServer::Impl::Write(host::BatchId batch, std::vector<TokenRecord> records) {
  if (!store_) {
    // Memory is the store: the batch is as durable as it will ever be. The host hears it
    // as its own input, after the one that wrote it.
    executor_->Post([this, batch] { host_.OnStorageDone(batch); });
    return;
  }
  // Group commit: the store's thread syncs everything queued at once and reports it
  // through on_durable. A failed store has reported itself; the batch never completes.
  appended_.emplace_back(batch, SteadyClock::now());
  // An inline commit (--inline-commit-us) only while few calls are in flight: under load
  // it held up the one thread that serves gRPC while group commit on the store's thread
  // would have overlapped with it (64 clients: 3,611 ops/s and p99 118 ms inline, 5,863
  // and 38 ms on the store's thread; docs/ARCHITECTURE.md, "Latency").
  const bool allow_inline = calls_.size() <= kInlineCommitMaxCalls;
  if (Status s = store_->Append(batch, std::move(records), allow_inline);
      !s.ok() && !store_failed_) {
    StoreFailed(s);
  }
}

void NodeServer::Impl::Start(host::JobId job_id, const ComputeRequest& request) {
  if (request.to - request.from <= options_.inline_argmin_points) {
    // Cheaper here than the hop to a worker and back. The result still arrives as the
    // next task (the host is inside its own call now); a Cancel before then leaves the
    // host ignoring it, as it ignores a worker's late result.
    executor_->Post([this, job_id, best = Argmin(request.name, request.from, request.to)] {
      host_.OnComputeDone(job_id, best);
    });
    return;
  }
  auto job = std::make_shared<ComputePool::Job>();
  job->name = request.name;
  job->from = request.from;
  job->to = request.to;
  job->token = request.token;
  job->done = [this, job_id](std::optional<HashPoint> best) {
    executor_->Post([this, job_id, best] {
      jobs_.erase(job_id);
      host_.OnComputeDone(job_id, best);
    });
  };
  jobs_[job_id] = job;
  pool_->Submit(std::move(job));
}

void NodeServer::Impl::Cancel(host::JobId job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  it->second->cancelled = true;
  jobs_.erase(it);
}

void NodeServer::Impl::OnPeerBatch(NodeIndex from, const pb::PeerBatch& batch) {
  for (const pb::PeerMessage& pm : batch.messages()) {
    const auto t = scheme_->FindToken(pm.token());
    const auto type = FromProto(pm.type());
    if (!t || !type) {
      host_.OnUndecodablePeerMessage(from, pm.token());
      continue;
    }
    Message m;
    m.type = *type;
    m.from = from;
    m.to = self_;
    m.token = *t;
    m.op_id = pm.op_id();
    if (m.type == MessageType::kQueryReply || m.type == MessageType::kUpdate) {
      auto vv = FromProto(pm.value());
      if (!vv.ok()) {
        host_.OnUndecodablePeerMessage(from, pm.token());
        continue;
      }
      m.vv = std::move(vv).value();
    }
    host_.OnPeerMessage(m);
  }
}

void NodeServer::Impl::FlushPeers() {
  for (auto& link : links_) {
    if (link) link->Flush();
  }
}

grpc::Status NodeServer::Impl::CrashToken(const std::string& id, pb::CrashTokenReply* reply) {
  const auto t = scheme_->FindToken(id);
  if (!t) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        fmt::format("unknown token '{}': it is not in the replication scheme", id));
  }
  reply->set_node(self_name_);
  reply->set_id(id);
  reply->set_was_crashed(host_.CrashToken(*t));
  Log(fmt::format("[{}] token '{}' crashed here (crash-stop: no further answer about it)",
                  self_name_, id));
  return grpc::Status::OK;
}

void NodeServer::Impl::FillStatus(pb::StatusReply* reply) {
  const Node& node = host_.node();
  reply->set_node(self_name_);
  for (TokenIndex t = 0; t < scheme_->tokens().size(); ++t) {
    const TokenScheme& ts = scheme_->token(t);
    const bool writer = ts.writer == self_;
    const bool reader = ts.IsReader(self_);
    const bool replica = ts.IsReplica(self_);
    if (!writer && !reader && !replica) continue;
    pb::TokenStatus* s = reply->add_tokens();
    s->set_id(ts.id);
    s->set_writer(writer);
    s->set_reader(reader);
    s->set_replica(replica);
    s->set_crashed(node.IsCrashed(t));
    if (auto stored = node.Stored(t); stored && !node.IsCrashed(t)) {
      ToProto(*stored, s->mutable_stored());
      // A status lists every token: names are cut short so that it stays small.
      if (s->stored().has_domain()) {
        auto* name = s->mutable_stored()->mutable_domain()->mutable_name();
        if (name->size() > kStatusNameBytes) *name = Abbreviate(*name, kStatusNameBytes);
      }
    }
  }
  const host::HostStats& stats = host_.stats();
  reply->set_pending_operations(node.pending_operations());
  reply->set_held_calls(host_.held_calls());
  reply->set_client_calls(stats.client_calls);
  reply->set_peer_messages_in(stats.peer_messages_in);
  std::uint64_t out = 0, dropped = 0;
  for (auto& link : links_) {
    if (!link) continue;
    out += link->messages_sent();
    dropped += link->messages_dropped();
  }
  reply->set_peer_messages_out(out);
  reply->set_peer_messages_rejected(stats.peer_messages_rejected);
  reply->set_peer_messages_dropped(dropped);
  reply->set_peer_auth_refused(peer_auth_refused_.load());
  reply->set_pid(static_cast<std::uint64_t>(getpid()));
  reply->set_instance(instance_);
  reply->set_uptime_ms(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started_)
          .count()));
  reply->set_metrics(metrics_.Render(Gauges()));
}

NodeGauges NodeServer::Impl::Gauges() {
  NodeGauges g;
  g.node = self_name_;
  const std::vector<TokenIndex> tokens = scheme_->TokensOf(self_);
  g.tokens = tokens.size();
  for (TokenIndex t : tokens) g.crashed_tokens += host_.node().IsCrashed(t) ? 1 : 0;
  g.held_calls = host_.held_calls();
  g.pending_operations = host_.node().pending_operations();
  g.client_calls = host_.stats().client_calls;
  g.peer_messages_in = host_.stats().peer_messages_in;
  g.peer_messages_rejected = host_.stats().peer_messages_rejected;
  g.uptime_s = std::chrono::duration<double>(SteadyClock::now() - started_).count();
  for (auto& link : links_) {
    if (link) {
      g.peers.push_back(PeerGauge{link->peer(), link->connected(), link->messages_sent(),
                                  link->messages_dropped()});
    }
  }
  return g;
}

}  // namespace token::net
