#include "net_grpc/node_server.h"

#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <openssl/sha.h>

#include "core/address.h"
#include "net_grpc/compute_pool.h"
#include "net_grpc/convert.h"
#include "net_grpc/executor.h"
#include "net_grpc/peer_link.h"
#include "proto/token.grpc.pb.h"

namespace token::net {

namespace pb = tokenmgr::v1;
using Clock = std::chrono::steady_clock;

std::string SchemeFingerprint(const ReplicationScheme& scheme) {
  std::string canonical;
  for (const TokenScheme& t : scheme.tokens()) {
    canonical += fmt::format("{}\n{}\n", t.id, scheme.node(t.writer));
    for (NodeIndex r : t.readers) canonical += fmt::format("{},", scheme.node(r));
    canonical += "\n";
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  std::string hex;
  for (unsigned char b : digest) hex += fmt::format("{:02x}", b);
  return hex;
}

namespace {

std::string_view HostOf(std::string_view address) {
  const auto colon = address.rfind(':');
  std::string_view host = colon == std::string_view::npos ? address : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

bool IsLoopback(std::string_view host) {
  return host.starts_with("127.") || host == "::1" || host == "localhost";
}

// "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000" -> the host.
std::string PeerHost(const std::string& peer) {
  std::string_view p = peer;
  if (const auto colon = p.find(':'); colon != std::string_view::npos) p = p.substr(colon + 1);
  return std::string(HostOf(p));
}

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
      return fmt::format("v{} {} [{},{},{})", vv.version, d.name, d.low, d.mid, d.high);
    }
  }
  return "?";
}

}  // namespace

class NodeServer::Impl {
 public:
  Impl(NodeServerOptions options, NodeIndex self)
      : options_(std::move(options)),
        scheme_(options_.scheme),
        self_(self),
        self_name_(scheme_->node(self)),
        fingerprint_(SchemeFingerprint(*scheme_)),
        node_(scheme_, self, NodeOptions{options_.fast_read, Mutant::kNone}),
        client_service_(this),
        replica_service_(this),
        admin_service_(this),
        started_(Clock::now()) {}

  Status Start();
  void Shutdown();
  int port() const { return port_; }
  const std::string& self_name() const { return self_name_; }

 private:
  // ---- calls in flight ----------------------------------------------------------------
  enum class CallKind : std::uint8_t { kClient, kQuery, kUpdate };

  // A unary call answered later by the executor. Lives until gRPC's OnDone.
  class Call : public grpc::ServerUnaryReactor {
   public:
    Call(Impl* impl, std::uint64_t id, CallKind kind, google::protobuf::Message* response)
        : impl_(impl), id_(id), kind_(kind), response_(response) {}
    void OnCancel() override {
      impl_->executor_->Post([impl = impl_, id = id_] { impl->CancelCall(id); });
    }
    void OnDone() override { delete this; }

    Impl* impl_;
    const std::uint64_t id_;
    const CallKind kind_;
    google::protobuf::Message* const response_;
  };

  struct CallEntry {
    Call* call = nullptr;
    ClientRequest request;  // client calls
    std::optional<TokenIndex> token;
    Clock::time_point started;
    bool held = false;  // silent: the token crashed here
  };

  class ClientService final : public pb::TokenManager::CallbackService {
   public:
    explicit ClientService(Impl* impl) : impl_(impl) {}
    grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* ctx, const pb::CreateRequest* req,
                                     pb::TokenReply* reply) override {
      return impl_->StartClientCall(ctx, ClientRequest{0, OpKind::kCreate, req->id(), {}}, reply);
    }
    grpc::ServerUnaryReactor* Drop(grpc::CallbackServerContext* ctx, const pb::DropRequest* req,
                                   pb::TokenReply* reply) override {
      return impl_->StartClientCall(ctx, ClientRequest{0, OpKind::kDrop, req->id(), {}}, reply);
    }
    grpc::ServerUnaryReactor* Write(grpc::CallbackServerContext* ctx, const pb::WriteRequest* req,
                                    pb::TokenReply* reply) override {
      return impl_->StartClientCall(
          ctx,
          ClientRequest{0, OpKind::kWrite, req->id(),
                        Domain{req->name(), req->low(), req->mid(), req->high()}},
          reply);
    }
    grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* ctx, const pb::ReadRequest* req,
                                   pb::TokenReply* reply) override {
      return impl_->StartClientCall(ctx, ClientRequest{0, OpKind::kRead, req->id(), {}}, reply);
    }

   private:
    Impl* impl_;
  };

  // The receiving half of a peer's stream: batches of protocol messages from one node.
  class DeliverReactor : public grpc::ServerReadReactor<pb::PeerBatch> {
   public:
    DeliverReactor(Impl* impl, NodeIndex from, pb::DeliverSummary* summary)
        : impl_(impl), from_(from), summary_(summary) {
      StartRead(&batch_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        summary_->set_accepted(accepted_);
        Finish(grpc::Status::OK);
        return;
      }
      accepted_ += static_cast<std::uint64_t>(batch_.messages_size());
      auto batch = std::make_shared<pb::PeerBatch>();
      batch->Swap(&batch_);
      impl_->executor_->Post([impl = impl_, from = from_, batch = std::move(batch)] {
        impl->OnPeerBatch(from, *batch);
      });
      StartRead(&batch_);
    }
    void OnDone() override { delete this; }

   private:
    Impl* impl_;
    NodeIndex from_;
    pb::DeliverSummary* summary_;
    pb::PeerBatch batch_;
    std::uint64_t accepted_ = 0;
  };

  class ReplicaService final : public pb::Replica::CallbackService {
   public:
    explicit ReplicaService(Impl* impl) : impl_(impl) {}
    grpc::ServerReadReactor<pb::PeerBatch>* Deliver(grpc::CallbackServerContext* ctx,
                                                    pb::DeliverSummary* summary) override {
      auto from = impl_->IdentifyPeer(ctx);
      if (!from.ok()) {
        struct Refuse : grpc::ServerReadReactor<pb::PeerBatch> {
          explicit Refuse(grpc::Status s) { Finish(std::move(s)); }
          void OnDone() override { delete this; }
        };
        return new Refuse(
            grpc::Status(grpc::StatusCode::PERMISSION_DENIED, from.status().message()));
      }
      return new DeliverReactor(impl_, from.value(), summary);
    }
    grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* ctx, const pb::QueryRequest* req,
                                    pb::PeerMessage* reply) override {
      return impl_->StartPeerCall(ctx, CallKind::kQuery, req->token(), req->op_id(), nullptr,
                                  reply);
    }
    grpc::ServerUnaryReactor* Update(grpc::CallbackServerContext* ctx, const pb::UpdateRequest* req,
                                     pb::UpdateAck* reply) override {
      return impl_->StartPeerCall(ctx, CallKind::kUpdate, req->token(), req->op_id(), &req->value(),
                                  reply);
    }

   private:
    Impl* impl_;
  };

  class AdminService final : public pb::Admin::CallbackService {
   public:
    explicit AdminService(Impl* impl) : impl_(impl) {}
    grpc::ServerUnaryReactor* CrashToken(grpc::CallbackServerContext* ctx,
                                         const pb::CrashTokenRequest* req,
                                         pb::CrashTokenReply* reply) override {
      auto* reactor = ctx->DefaultReactor();
      impl_->executor_->Post([impl = impl_, id = req->id(), reactor, reply] {
        reactor->Finish(impl->CrashToken(id, reply));
      });
      return reactor;
    }
    grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const pb::StatusRequest*,
                                     pb::StatusReply* reply) override {
      auto* reactor = ctx->DefaultReactor();
      impl_->executor_->Post([impl = impl_, reactor, reply] {
        impl->FillStatus(reply);
        reactor->Finish(grpc::Status::OK);
      });
      return reactor;
    }

   private:
    Impl* impl_;
  };

  // ---- gRPC threads ---------------------------------------------------------------------
  grpc::ServerUnaryReactor* StartClientCall(grpc::CallbackServerContext* ctx, ClientRequest request,
                                            pb::TokenReply* reply);
  grpc::ServerUnaryReactor* StartPeerCall(grpc::CallbackServerContext* ctx, CallKind kind,
                                          const std::string& token, std::uint64_t op_id,
                                          const pb::VersionedValue* value,
                                          google::protobuf::Message* reply);
  Result<NodeIndex> IdentifyPeer(grpc::CallbackServerContext* ctx) const;
  void Log(const std::string& line);

  // ---- executor thread ------------------------------------------------------------------
  void SubmitClient(std::uint64_t id, Call* call, ClientRequest request,
                    Clock::time_point deadline);
  void SubmitPeerCall(std::uint64_t id, Call* call, NodeIndex from, std::string token,
                      std::uint64_t op_id, std::optional<pb::VersionedValue> value);
  void CancelCall(std::uint64_t id);
  void TimeoutCall(std::uint64_t id);
  void OnPeerBatch(NodeIndex from, const pb::PeerBatch& batch);
  // Acts on the Node's outputs; messages to this node are fed back until none is left.
  void Act(const Outputs& out);
  void ActOnce(const Outputs& out);
  void Answer(const ClientReply& reply);
  void CancelJob(std::uint64_t request_id);
  void FlushPeers();
  grpc::Status CrashToken(const std::string& id, pb::CrashTokenReply* reply);
  void FillStatus(pb::StatusReply* reply);
  void LogReply(const CallEntry& entry, const ClientReply& reply);

  NodeServerOptions options_;
  std::shared_ptr<const ReplicationScheme> scheme_;
  const NodeIndex self_;
  const std::string self_name_;
  const std::string fingerprint_;
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials_;

  // Executor thread only.
  Node node_;
  std::map<std::uint64_t, CallEntry> calls_;
  std::map<std::uint64_t, std::shared_ptr<ComputePool::Job>> jobs_;  // by request id
  std::vector<std::unique_ptr<PeerLink>> links_;                     // by NodeIndex
  std::deque<Message> to_self_;
  bool acting_ = false;
  std::size_t held_ = 0;
  std::uint64_t peer_in_ = 0;
  std::uint64_t peer_rejected_ = 0;
  std::set<std::pair<NodeIndex, TokenIndex>> rejection_logged_;  // logged once each

  std::atomic<std::uint64_t> next_call_id_{1};
  std::atomic<std::uint64_t> client_calls_{0};
  std::mutex log_mu_;

  ClientService client_service_;
  ReplicaService replica_service_;
  AdminService admin_service_;
  std::unique_ptr<ComputePool> pool_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  Clock::time_point started_;
  std::once_flag shutdown_once_;
};

// ---- start and stop ---------------------------------------------------------------------

Status NodeServer::Impl::Start() {
  auto server_credentials = MakeServerCredentials(options_.tls);
  if (!server_credentials.ok()) return server_credentials.status();
  auto channel_credentials = MakeChannelCredentials(options_.tls);
  if (!channel_credentials.ok()) return channel_credentials.status();
  channel_credentials_ = channel_credentials.value();

  pool_ = std::make_unique<ComputePool>(std::max(1, options_.compute_workers));
  executor_ = std::make_unique<Executor>([this] { FlushPeers(); });

  // One link per node that shares a token with this one (a token's replica set is its
  // writer and its readers, so this covers every coordinator role too).
  links_.resize(scheme_->nodes().size());
  for (TokenIndex t : scheme_->TokensOf(self_)) {
    for (NodeIndex n : scheme_->token(t).replicas) {
      if (n == self_ || links_[n]) continue;
      auto channel = grpc::CreateCustomChannel(scheme_->node(n), channel_credentials_,
                                               DefaultChannelArguments());
      links_[n] =
          std::make_unique<PeerLink>(std::move(channel), self_name_, scheme_->node(n), fingerprint_,
                                     [this](const std::string& line) { Log(line); });
    }
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string listen = options_.listen.empty() ? self_name_ : options_.listen;
  // Without this gRPC sets SO_REUSEPORT, and a second server on a busy port would start
  // and silently share the connections with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen, server_credentials.value(), &port_);
  builder.RegisterService(&client_service_);
  builder.RegisterService(&replica_service_);
  builder.RegisterService(&admin_service_);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    executor_->Stop();
    return Status::Unavailable(
        fmt::format("cannot listen on {} (address in use or not local?)", listen));
  }
  Log(fmt::format("node {} serving on {} ({} tokens here, scheme {})", self_name_, listen,
                  scheme_->TokensOf(self_).size(), fingerprint_.substr(0, 12)));
  return Status::Ok();
}

void NodeServer::Impl::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    if (!server_) return;
    // Calls in flight end now (fail-silent calls included: the process is going away).
    // The executor signals through shared state, so a drain that outlasts the wait below
    // touches nothing of this frame.
    auto drained = std::make_shared<std::promise<void>>();
    std::future<void> done = drained->get_future();
    executor_->Post([this, drained] {
      for (auto& [id, entry] : calls_) {
        node_.OnAbandon(id);
        entry.call->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node shutting down"));
      }
      calls_.clear();
      held_ = 0;
      for (auto& [id, job] : jobs_) job->cancelled = true;
      jobs_.clear();
      drained->set_value();
    });
    done.wait_for(std::chrono::seconds(5));
    for (auto& link : links_) {
      if (link) link->Close();
    }
    // What is left are the peers' incoming streams, which never end by themselves: a short
    // grace, then gRPC cancels them.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    executor_->Stop();
    pool_.reset();
    Log(fmt::format("node {} stopped", self_name_));
  });
}

// ---- gRPC threads -------------------------------------------------------------------------

void NodeServer::Impl::Log(const std::string& line) {
  if (options_.log == nullptr) return;
  std::lock_guard lock(log_mu_);
  std::fputs(line.c_str(), options_.log);
  std::fputc('\n', options_.log);
  std::fflush(options_.log);
}

grpc::ServerUnaryReactor* NodeServer::Impl::StartClientCall(grpc::CallbackServerContext* ctx,
                                                            ClientRequest request,
                                                            pb::TokenReply* reply) {
  ++client_calls_;
  const std::uint64_t id = next_call_id_++;
  auto* call = new Call(this, id, CallKind::kClient, reply);
  // The caller's deadline, converted to our clock (none: far future).
  Clock::time_point deadline = Clock::time_point::max();
  const auto caller_deadline = ctx->deadline();
  if (caller_deadline != std::chrono::system_clock::time_point::max()) {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  caller_deadline - std::chrono::system_clock::now());
  }
  executor_->Post([this, id, call, request = std::move(request), deadline]() mutable {
    SubmitClient(id, call, std::move(request), deadline);
  });
  return call;
}

Result<NodeIndex> NodeServer::Impl::IdentifyPeer(grpc::CallbackServerContext* ctx) const {
  const auto& metadata = ctx->client_metadata();
  auto claimed = metadata.find("x-token-node");
  auto scheme = metadata.find("x-token-scheme");
  if (claimed == metadata.end() || scheme == metadata.end()) {
    return Status::InvalidArgument(
        "replica calls must name the calling node (x-token-node) and its scheme "
        "(x-token-scheme)");
  }
  const std::string name(claimed->second.data(), claimed->second.size());
  const std::string their_scheme(scheme->second.data(), scheme->second.size());
  auto node = scheme_->FindNode(name);
  if (!node || *node == self_) {
    return Status::FailedPrecondition(
        fmt::format("{} is not a node of this replication scheme", name));
  }
  if (their_scheme != fingerprint_) {
    return Status::FailedPrecondition(
        fmt::format("node {} runs a different replication scheme ({} here, {} there)", name,
                    fingerprint_.substr(0, 12), their_scheme.substr(0, 12)));
  }
  const std::string host(HostOf(name));
  if (options_.tls.enabled()) {
    auto auth = ctx->auth_context();
    bool match = false;
    for (const char* property : {"x509_subject_alternative_name", "x509_common_name"}) {
      for (const auto& value : auth->FindPropertyValues(property)) {
        const std::string v(value.data(), value.size());
        if (v == name || v == host) match = true;
      }
    }
    if (!match) {
      return Status::FailedPrecondition(
          fmt::format("the caller's certificate does not name node {}", name));
    }
  } else {
    const std::string source = PeerHost(ctx->peer());
    if (source != host && !(IsLoopback(source) && IsLoopback(host))) {
      return Status::FailedPrecondition(fmt::format(
          "a call from {} cannot speak for node {} (use TLS across hosts)", source, name));
    }
  }
  return *node;
}

grpc::ServerUnaryReactor* NodeServer::Impl::StartPeerCall(grpc::CallbackServerContext* ctx,
                                                          CallKind kind, const std::string& token,
                                                          std::uint64_t op_id,
                                                          const pb::VersionedValue* value,
                                                          google::protobuf::Message* reply) {
  const std::uint64_t id = next_call_id_++;
  auto* call = new Call(this, id, kind, reply);
  auto from = IdentifyPeer(ctx);
  if (!from.ok()) {
    grpc::Status s = ToGrpc(from.status());
    call->Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, s.error_message()));
    return call;
  }
  std::optional<pb::VersionedValue> v;
  if (value != nullptr) v = *value;
  executor_->Post([this, id, call, from = from.value(), token, op_id, v = std::move(v)]() mutable {
    SubmitPeerCall(id, call, from, std::move(token), op_id, std::move(v));
  });
  return call;
}

// ---- executor thread ----------------------------------------------------------------------

void NodeServer::Impl::SubmitClient(std::uint64_t id, Call* call, ClientRequest request,
                                    Clock::time_point deadline) {
  if (held_ >= options_.max_held_calls) {
    call->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              fmt::format("node {} holds {} calls already", self_name_, held_)));
    return;
  }
  request.request_id = id;
  CallEntry& entry = calls_[id];
  entry.call = call;
  entry.request = request;
  entry.token = scheme_->FindToken(request.token);
  entry.started = Clock::now();
  Act(node_.OnClientRequest(request));
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // answered at once (an error, or a local read)
  if (it->second.token && node_.IsCrashed(*it->second.token)) {
    it->second.held = true;  // fail-silent: ends at the caller's deadline
    ++held_;
    return;
  }
  // Give up a little before the caller does, so it hears why.
  const auto now = Clock::now();
  Clock::time_point give_up = now + options_.op_timeout;
  if (deadline != Clock::time_point::max()) {
    const auto margin =
        std::min<Clock::duration>(std::chrono::milliseconds(10), (deadline - now) / 10);
    give_up = std::min(give_up, deadline - margin);
  }
  executor_->PostAt(give_up, [this, id] { TimeoutCall(id); });
}

void NodeServer::Impl::SubmitPeerCall(std::uint64_t id, Call* call, NodeIndex from,
                                      std::string token, std::uint64_t op_id,
                                      std::optional<pb::VersionedValue> value) {
  const auto t = scheme_->FindToken(token);
  if (!t) {
    call->Finish(
        grpc::Status(grpc::StatusCode::NOT_FOUND, fmt::format("unknown token '{}'", token)));
    return;
  }
  const TokenScheme& ts = scheme_->token(*t);
  if (!ts.IsReplica(from) || !ts.IsReplica(self_)) {
    call->Finish(grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        fmt::format("token '{}': replica calls come only from and to its replicas ({})", ts.id,
                    scheme_->NodeList(ts.replicas))));
    return;
  }
  Message m;
  m.from = from;
  m.to = self_;
  m.token = *t;
  m.op_id = op_id;
  if (value) {
    auto vv = FromProto(*value);
    if (!vv.ok()) {
      call->Finish(ToGrpc(vv.status()));
      return;
    }
    m.type = MessageType::kUpdate;
    m.vv = std::move(vv).value();
  } else {
    m.type = MessageType::kQuery;
  }
  const MessageType want = value ? MessageType::kUpdateAck : MessageType::kQueryReply;
  // The replica answers within this one input; its reply becomes the call's response.
  Outputs out = node_.OnMessage(m);
  auto reply = std::find_if(out.messages.begin(), out.messages.end(), [&](const Message& r) {
    return r.to == from && r.type == want && r.op_id == op_id && r.token == *t;
  });
  if (reply == out.messages.end()) {
    // Crashed here: silent, the call ends at the caller's deadline.
    calls_[id] = CallEntry{call, {}, t, Clock::now(), true};
    ++held_;
    Act(out);
    return;
  }
  if (want == MessageType::kQueryReply) {
    auto* r = static_cast<pb::PeerMessage*>(call->response_);
    r->set_type(pb::QUERY_REPLY);
    r->set_token(ts.id);
    r->set_op_id(op_id);
    ToProto(reply->vv, r->mutable_value());
  } else {
    auto* r = static_cast<pb::UpdateAck*>(call->response_);
    r->set_token(ts.id);
    r->set_op_id(op_id);
  }
  out.messages.erase(reply);
  call->Finish(grpc::Status::OK);
  Act(out);
}

void NodeServer::Impl::CancelJob(std::uint64_t request_id) {
  auto job = jobs_.find(request_id);
  if (job == jobs_.end()) return;
  job->second->cancelled = true;
  jobs_.erase(job);
}

void NodeServer::Impl::CancelCall(std::uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // answered already
  if (it->second.held) --held_;
  Act(node_.OnAbandon(id));
  CancelJob(id);
  Call* call = it->second.call;
  calls_.erase(it);
  call->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away"));
}

void NodeServer::Impl::TimeoutCall(std::uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second.held) return;
  Act(node_.OnAbandon(id));
  CancelJob(id);
  CallEntry entry = std::move(it->second);
  calls_.erase(it);
  std::string message;
  const auto waited_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - entry.started).count();
  if (entry.token) {
    const TokenScheme& ts = scheme_->token(*entry.token);
    message =
        fmt::format("token '{}': no quorum of its replicas ({}; quorum {}) answered within {} ms{}",
                    ts.id, scheme_->NodeList(ts.replicas), ts.quorum, waited_ms,
                    IsWriterOp(entry.request.kind) ? "; the write may or may not take effect" : "");
  } else {
    message = fmt::format("no answer within {} ms", waited_ms);
  }
  if (options_.log_requests) {
    Log(fmt::format("[{}] {} '{}' -> UNAVAILABLE: {}", self_name_, OpKindName(entry.request.kind),
                    entry.request.token, message));
  }
  entry.call->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, message));
}

void NodeServer::Impl::OnPeerBatch(NodeIndex from, const pb::PeerBatch& batch) {
  for (const pb::PeerMessage& pm : batch.messages()) {
    ++peer_in_;
    const auto t = scheme_->FindToken(pm.token());
    const auto type = FromProto(pm.type());
    bool ok = t.has_value() && type.has_value() && scheme_->token(*t).IsReplica(from);
    Message m;
    if (ok) {
      m.type = *type;
      m.from = from;
      m.to = self_;
      m.token = *t;
      m.op_id = pm.op_id();
      if (m.type == MessageType::kQueryReply || m.type == MessageType::kUpdate) {
        auto vv = FromProto(pm.value());
        ok = vv.ok();
        if (ok) m.vv = std::move(vv).value();
      }
    }
    if (!ok) {
      ++peer_rejected_;
      const TokenIndex key = t.value_or(static_cast<TokenIndex>(-1));
      if (rejection_logged_.insert({from, key}).second) {
        Log(
            fmt::format("[{}] rejected a message from {} about token '{}' (not one of its "
                        "replicas, unknown token or malformed value); further ones are counted",
                        self_name_, scheme_->node(from), pm.token()));
      }
      continue;
    }
    Act(node_.OnMessage(m));
  }
}

void NodeServer::Impl::Act(const Outputs& out) {
  if (acting_) {
    ActOnce(out);
    return;
  }
  acting_ = true;
  ActOnce(out);
  while (!to_self_.empty()) {
    Message m = std::move(to_self_.front());
    to_self_.pop_front();
    ActOnce(node_.OnMessage(m));
  }
  acting_ = false;
}

void NodeServer::Impl::ActOnce(const Outputs& out) {
  // `out` is valid until the next call into node_: everything is taken out first.
  for (const Message& m : out.messages) {
    if (m.to == self_) {
      to_self_.push_back(m);
      continue;
    }
    PeerLink* link = links_[m.to].get();
    if (link == nullptr) continue;  // not a peer of any token here: cannot happen
    pb::PeerMessage* pm = link->Add();
    pm->set_type(ToProto(m.type));
    pm->set_token(scheme_->token(m.token).id);
    pm->set_op_id(m.op_id);
    if (m.type == MessageType::kQueryReply || m.type == MessageType::kUpdate) {
      ToProto(m.vv, pm->mutable_value());
    }
  }
  for (const ComputeRequest& c : out.computes) {
    auto job = std::make_shared<ComputePool::Job>();
    job->name = c.name;
    job->from = c.from;
    job->to = c.to;
    const std::uint64_t compute_id = c.compute_id;
    const std::uint64_t request_id = c.request_id;
    job->done = [this, compute_id, request_id](std::optional<HashPoint> best) {
      executor_->Post([this, compute_id, request_id, best] {
        jobs_.erase(request_id);
        Act(node_.OnComputeResult(ComputeResult{compute_id, best}));
      });
    };
    jobs_[request_id] = job;
    pool_->Submit(std::move(job));
  }
  // Replies last: answering may not touch node_, so the copy above is not needed for them.
  for (const ClientReply& r : out.replies) Answer(r);
}

void NodeServer::Impl::Answer(const ClientReply& reply) {
  auto it = calls_.find(reply.request_id);
  if (it == calls_.end()) return;  // the caller went away meanwhile
  CallEntry entry = std::move(it->second);
  calls_.erase(it);
  if (options_.log_requests) LogReply(entry, reply);
  if (!reply.status.ok()) {
    entry.call->Finish(ToGrpc(reply.status));
    return;
  }
  auto* r = static_cast<pb::TokenReply*>(entry.call->response_);
  ToProto(reply, r);
  r->set_id(entry.request.token);
  r->set_node(self_name_);
  entry.call->Finish(grpc::Status::OK);
}

void NodeServer::Impl::LogReply(const CallEntry& entry, const ClientReply& reply) {
  const ClientRequest& q = entry.request;
  std::string request = fmt::format("{} '{}'", OpKindName(q.kind), q.token);
  if (q.kind == OpKind::kWrite) {
    request +=
        fmt::format(" {} [{},{},{})", q.domain.name, q.domain.low, q.domain.mid, q.domain.high);
  }
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - entry.started).count();
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
  reply->set_was_crashed(node_.IsCrashed(*t));
  Act(node_.OnCrash(*t));
  // Calls about the token fall silent; their computations stop.
  for (auto& [call_id, entry] : calls_) {
    if (entry.token == t && !entry.held) {
      entry.held = true;
      ++held_;
      CancelJob(call_id);
    }
  }
  Log(fmt::format("[{}] token '{}' crashed here (crash-stop: no further answer about it)",
                  self_name_, id));
  return grpc::Status::OK;
}

void NodeServer::Impl::FillStatus(pb::StatusReply* reply) {
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
    s->set_crashed(node_.IsCrashed(t));
    if (auto stored = node_.Stored(t); stored && !node_.IsCrashed(t)) {
      ToProto(*stored, s->mutable_stored());
    }
  }
  reply->set_pending_operations(node_.pending_operations());
  reply->set_held_calls(held_);
  reply->set_client_calls(client_calls_.load());
  reply->set_peer_messages_in(peer_in_);
  std::uint64_t out = 0, dropped = 0;
  for (auto& link : links_) {
    if (!link) continue;
    out += link->messages_sent();
    dropped += link->messages_dropped();
  }
  reply->set_peer_messages_out(out);
  reply->set_peer_messages_rejected(peer_rejected_);
  reply->set_peer_messages_dropped(dropped);
  reply->set_uptime_ms(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count()));
}

// ---- NodeServer -----------------------------------------------------------------------------

Result<std::unique_ptr<NodeServer>> NodeServer::Start(NodeServerOptions options) {
  if (!options.scheme) return Status::InvalidArgument("no replication scheme");
  const auto self = options.scheme->FindNode(options.self);
  if (!self) {
    return Status::InvalidArgument(
        fmt::format("{} is not a node of the replication scheme; its nodes are {}", options.self,
                    fmt::join(options.scheme->nodes(), ", ")));
  }
  auto impl = std::make_unique<Impl>(std::move(options), *self);
  if (Status s = impl->Start(); !s.ok()) return s;
  return std::unique_ptr<NodeServer>(new NodeServer(std::move(impl)));
}

NodeServer::NodeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeServer::~NodeServer() { Shutdown(); }
void NodeServer::Shutdown() { impl_->Shutdown(); }
const std::string& NodeServer::self() const { return impl_->self_name(); }
int NodeServer::port() const { return impl_->port(); }

}  // namespace token::net
