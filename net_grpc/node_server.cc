#include "net_grpc/node_server.h"

#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "host/host.h"
#include "net_grpc/compute_pool.h"
#include "net_grpc/convert.h"
#include "net_grpc/executor.h"
#include "net_grpc/metrics.h"
#include "net_grpc/peer_identity.h"
#include "net_grpc/peer_link.h"
#include "proto/token.grpc.pb.h"
#include "storage/store.h"

namespace token::net {

namespace pb = tokenmgr::v1;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::int64_t ToNs(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Metrics::Op MetricOp(OpKind kind) {
  switch (kind) {
    case OpKind::kCreate:
      return Metrics::Op::kCreate;
    case OpKind::kDrop:
      return Metrics::Op::kDrop;
    case OpKind::kWrite:
      return Metrics::Op::kWrite;
    case OpKind::kRead:
      return Metrics::Op::kRead;
  }
  return Metrics::Op::kRead;
}

}  // namespace

// The gRPC world of a host (host/world.h): the executor's steady clock and timers, peer
// links and callback reactors as the transport, the compute pool as the runner, and the
// durable store of --data-dir as storage (storage/store.h; without it, memory: a write is
// done at once and nothing survives the process). Everything but the gRPC handlers and
// the store's sync thread runs on the executor thread, which owns the host.
class NodeServer::Impl : public host::Clock,
                         public host::Transport,
                         public host::ComputeRunner,
                         public host::Storage {
 public:
  Impl(NodeServerOptions options, NodeIndex self)
      : options_(std::move(options)),
        scheme_(options_.scheme),
        self_(self),
        self_name_(scheme_->node(self)),
        peer_check_{scheme_.get(), self, SchemeFingerprint(*scheme_), options_.tls.enabled()},
        host_(scheme_, self, HostOptionsOf(options_),
              host::World{.clock = this, .transport = this, .compute = this, .storage = this}),
        client_service_(this),
        replica_service_(this),
        admin_service_(this),
        started_(SteadyClock::now()) {}

  Status Serve();
  // Opens (or creates) the data directory; the mode and records the node starts from.
  Result<std::pair<StartMode, std::vector<TokenRecord>>> OpenStore();
  void StoreFailed(const Status& status);
  void Shutdown();
  int port() const { return port_; }
  const std::string& self_name() const { return self_name_; }

  // ---- host::Clock, host::Transport, host::ComputeRunner (executor thread) --------------
  std::int64_t NowNs() const override { return ToNs(SteadyClock::now()); }
  void StartTimer(std::int64_t at_ns, host::CallId call) override;
  void Send(const Message& m) override;
  void AnswerClient(host::CallId call, const ClientReply& reply) override;
  void AnswerPeer(host::CallId call, const Result<Message>& reply) override;
  void Start(host::JobId job, const ComputeRequest& request) override;
  void Cancel(host::JobId job) override;
  void Write(host::BatchId batch, std::vector<TokenRecord> records) override;

 private:
  host::HostOptions HostOptionsOf(const NodeServerOptions& o) {
    host::HostOptions h;
    h.node.fast_read = o.fast_read;
    h.op_timeout_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(o.op_timeout).count();
    h.max_held_calls = o.max_held_calls;
    h.log_requests = o.log_requests;
    h.log = [this](std::string_view line) { Log(line); };
    return h;
  }

  // A unary call answered later on the executor. Lives until gRPC's OnDone.
  class Call : public grpc::ServerUnaryReactor {
   public:
    Call(Impl* impl, host::CallId id, google::protobuf::Message* response)
        : impl_(impl), id_(id), response_(response) {}
    void OnCancel() override {
      impl_->executor_->Post([impl = impl_, id = id_] { impl->host_.OnCallCancelled(id); });
    }
    void OnDone() override { delete this; }

    Impl* const impl_;
    const host::CallId id_;
    google::protobuf::Message* const response_;
    // Client calls: the operation and when it arrived (metrics).
    Metrics::Op op_ = Metrics::Op::kRead;
    SteadyClock::time_point started_{};
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
      auto from = IdentifyPeer(impl_->peer_check_, *ctx);
      if (!from.ok()) {
        struct Refuse : grpc::ServerReadReactor<pb::PeerBatch> {
          explicit Refuse(grpc::Status s) { Finish(std::move(s)); }
          void OnDone() override { delete this; }
        };
        return new Refuse(
            grpc::Status(grpc::StatusCode::PERMISSION_DENIED, from.status().message()));
      }
      // A new stream from a peer: it is up (perhaps restarted), so our link to it may
      // reconnect at once instead of waiting out its backoff.
      impl_->executor_->Post([impl = impl_, from = from.value()] {
        if (impl->links_[from]) impl->links_[from]->PeerIsUp();
      });
      return new DeliverReactor(impl_, from.value(), summary);
    }
    grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* ctx, const pb::QueryRequest* req,
                                    pb::PeerMessage* reply) override {
      return impl_->StartPeerCall(ctx, req->token(), req->op_id(), nullptr, reply);
    }
    grpc::ServerUnaryReactor* Update(grpc::CallbackServerContext* ctx, const pb::UpdateRequest* req,
                                     pb::UpdateAck* reply) override {
      return impl_->StartPeerCall(ctx, req->token(), req->op_id(), &req->value(), reply);
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
  grpc::ServerUnaryReactor* StartPeerCall(grpc::CallbackServerContext* ctx,
                                          const std::string& token, std::uint64_t op_id,
                                          const pb::VersionedValue* value,
                                          google::protobuf::Message* reply);
  void Log(std::string_view line);

  // ---- executor thread ------------------------------------------------------------------
  void OnPeerBatch(NodeIndex from, const pb::PeerBatch& batch);
  Call* TakeCall(host::CallId id);
  void FlushPeers();
  grpc::Status CrashToken(const std::string& id, pb::CrashTokenReply* reply);
  void FillStatus(pb::StatusReply* reply);
  NodeGauges Gauges();  // executor thread
  Status ServeMetrics();

  NodeServerOptions options_;
  std::shared_ptr<const ReplicationScheme> scheme_;
  const NodeIndex self_;
  const std::string self_name_;
  const PeerCheck peer_check_;
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials_;

  // Executor thread only.
  host::Host host_;
  std::unordered_map<host::CallId, Call*> calls_;  // reactors of the calls in flight
  std::unordered_map<host::JobId, std::shared_ptr<ComputePool::Job>> jobs_;
  std::vector<std::unique_ptr<PeerLink>> links_;  // by NodeIndex

  std::atomic<std::uint64_t> next_call_id_{1};
  std::mutex log_mu_;

  ClientService client_service_;
  ReplicaService replica_service_;
  AdminService admin_service_;
  std::unique_ptr<ComputePool> pool_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<storage::Store> store_;  // null: state in memory only
  std::atomic<bool> store_failed_{false};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  SteadyClock::time_point started_;
  Metrics metrics_;
  std::deque<std::pair<host::BatchId, SteadyClock::time_point>> appended_;  // executor thread
  std::unique_ptr<MetricsServer> metrics_server_;
  std::once_flag shutdown_once_;
};

// ---- start and stop ---------------------------------------------------------------------

Status NodeServer::Impl::Serve() {
  auto server_credentials = MakeServerCredentials(options_.tls);
  if (!server_credentials.ok()) return server_credentials.status();
  auto channel_credentials = MakeChannelCredentials(options_.tls);
  if (!channel_credentials.ok()) return channel_credentials.status();
  channel_credentials_ = channel_credentials.value();

  pool_ = std::make_unique<ComputePool>(std::max(1, options_.compute_workers));
  executor_ = std::make_unique<Executor>([this] { FlushPeers(); });
  auto start = OpenStore();
  if (!start.ok()) {
    executor_->Stop();
    return start.status();
  }

  // One link per node that shares a token with this one (a token's replica set is its
  // writer and its readers, so this covers every coordinator role too).
  links_.resize(scheme_->nodes().size());
  for (TokenIndex t : scheme_->TokensOf(self_)) {
    for (NodeIndex n : scheme_->token(t).replicas) {
      if (n == self_ || links_[n]) continue;
      auto channel = grpc::CreateCustomChannel(scheme_->node(n), channel_credentials_,
                                               DefaultChannelArguments());
      links_[n] = std::make_unique<PeerLink>(std::move(channel), self_name_, scheme_->node(n),
                                             peer_check_.fingerprint,
                                             [this](const std::string& line) { Log(line); });
    }
  }
  if (Status s = ServeMetrics(); !s.ok()) {
    executor_->Stop();
    return s;
  }
  // The host starts (and may send its catch-up queries) once the links exist, and before
  // any call reaches it: the executor runs tasks in order.
  executor_->Post(
      [this, start = std::move(start).value()] { host_.Start(start.first, start.second); });
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
                  scheme_->TokensOf(self_).size(), peer_check_.fingerprint.substr(0, 12)));
  return Status::Ok();
}

// The metrics endpoint (--metrics-listen): a scrape reads the node's gauges on the executor
// thread, waiting at most 2 s for it.
Status NodeServer::Impl::ServeMetrics() {
  if (options_.metrics_listen.empty()) return Status::Ok();
  auto server = MetricsServer::Start(options_.metrics_listen, [this] {
    auto text = std::make_shared<std::promise<std::string>>();
    std::future<std::string> ready = text->get_future();
    executor_->Post([this, text] { text->set_value(metrics_.Render(Gauges())); });
    if (ready.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
      return std::string("# the node did not answer within 2 s\n");
    }
    return ready.get();
  });
  if (!server.ok()) return server.status();
  metrics_server_ = std::move(server).value();
  Log(fmt::format("node {}: metrics on http://{}/metrics", self_name_, options_.metrics_listen));
  return Status::Ok();
}

Result<std::pair<StartMode, std::vector<TokenRecord>>> NodeServer::Impl::OpenStore() {
  if (options_.data_dir.empty()) {
    Log(
        fmt::format("node {}: no --data-dir: state in memory only, lost when the process "
                    "ends",
                    self_name_));
    return std::pair{StartMode::kNew, std::vector<TokenRecord>{}};
  }
  storage::StoreOptions o;
  o.dir = options_.data_dir;
  o.node = self_name_;
  o.scheme_fingerprint = peer_check_.fingerprint;
  o.scheme = scheme_;
  o.on_durable = [this](storage::BatchId up_to) {
    executor_->Post([this, up_to] {
      for (; !appended_.empty() && appended_.front().first <= up_to; appended_.pop_front()) {
        metrics_.SyncDone(SteadyClock::now() - appended_.front().second);
      }
      host_.OnStorageDone(up_to);
    });
  };
  o.on_failed = [this](const Status& status) { StoreFailed(status); };
  auto open = storage::Store::Open(o);
  if (!open.ok()) return open.status();
  storage::Store::Opened opened = std::move(open).value();
  if (opened.state == storage::DirState::kExisting) {
    store_ = std::move(opened.store);
    Log(fmt::format("node {}: {}", self_name_,
                    storage::DescribeRecovery(options_.data_dir, opened.recovery)));
    return std::pair{StartMode::kRestart, std::move(opened.recovery.records)};
  }
  if (!options_.initial_state) {
    return Status::FailedPrecondition(fmt::format(
        "data directory {} holds no node state: give --initial-state new for the first start "
        "of a new cluster, or --initial-state existing for a node that replaces one whose "
        "data is lost (it catches up from its peers before it serves)",
        options_.data_dir));
  }
  auto created = storage::Store::Create(o);
  if (!created.ok()) return created.status();
  store_ = std::move(created).value();
  Log(fmt::format("node {}: new data directory {} ({})", self_name_, options_.data_dir,
                  StartModeName(*options_.initial_state)));
  return std::pair{*options_.initial_state, std::vector<TokenRecord>{}};
}

void NodeServer::Impl::StoreFailed(const Status& status) {
  // The store stopped: nothing that waits for it will leave, so the node acknowledges
  // nothing more. The process must restart and recover from what is on disk.
  store_failed_ = true;
  Log(fmt::format("node {}: FATAL: storage failed: {}; no longer acknowledging", self_name_,
                  status.ToString()));
  if (options_.on_fatal) options_.on_fatal(status);
}

void NodeServer::Impl::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    metrics_server_.reset();
    if (!server_) return;
    // Calls in flight end now (fail-silent calls included: the process is going away).
    // The executor signals through shared state, so a drain that outlasts the wait below
    // touches nothing of this frame.
    auto drained = std::make_shared<std::promise<void>>();
    std::future<void> done = drained->get_future();
    executor_->Post([this, drained] {
      host_.Shutdown("node shutting down");
      drained->set_value();
    });
    done.wait_for(std::chrono::seconds(5));
    for (auto& link : links_) {
      if (link) link->Close();
    }
    // What is left are the peers' incoming streams, which never end by themselves: a short
    // grace, then gRPC cancels them.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    // The store flushes what is queued; its last reports reach the executor while it runs.
    if (store_) {
      if (Status s = store_->Close(); !s.ok()) {
        Log(fmt::format("node {}: closing the data directory: {}", self_name_, s.ToString()));
      }
    }
    executor_->Stop();
    pool_.reset();
    Log(fmt::format("node {} stopped", self_name_));
  });
}

// ---- gRPC threads -------------------------------------------------------------------------

void NodeServer::Impl::Log(std::string_view line) {
  if (options_.log == nullptr) return;
  std::lock_guard lock(log_mu_);
  std::fwrite(line.data(), 1, line.size(), options_.log);
  std::fputc('\n', options_.log);
  std::fflush(options_.log);
}

grpc::ServerUnaryReactor* NodeServer::Impl::StartClientCall(grpc::CallbackServerContext* ctx,
                                                            ClientRequest request,
                                                            pb::TokenReply* reply) {
  const host::CallId id = next_call_id_++;
  auto* call = new Call(this, id, reply);
  call->started_ = SteadyClock::now();
  call->op_ = MetricOp(request.kind);
  reply->set_id(request.token);  // sent only with an ok reply
  // The caller's deadline, converted to our clock (none: nullopt).
  std::optional<std::int64_t> deadline_ns;
  const auto caller_deadline = ctx->deadline();
  if (caller_deadline != std::chrono::system_clock::time_point::max()) {
    deadline_ns =
        ToNs(SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                      caller_deadline - std::chrono::system_clock::now()));
  }
  executor_->Post([this, id, call, request = std::move(request), deadline_ns]() mutable {
    calls_.emplace(id, call);
    host_.OnClientCall(id, std::move(request), deadline_ns);
  });
  return call;
}

grpc::ServerUnaryReactor* NodeServer::Impl::StartPeerCall(grpc::CallbackServerContext* ctx,
                                                          const std::string& token,
                                                          std::uint64_t op_id,
                                                          const pb::VersionedValue* value,
                                                          google::protobuf::Message* reply) {
  const host::CallId id = next_call_id_++;
  auto* call = new Call(this, id, reply);
  auto from = IdentifyPeer(peer_check_, *ctx);
  if (!from.ok()) {
    call->Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, from.status().message()));
    return call;
  }
  const auto t = scheme_->FindToken(token);
  if (!t) {
    call->Finish(
        grpc::Status(grpc::StatusCode::NOT_FOUND, fmt::format("unknown token '{}'", token)));
    return call;
  }
  Message m;
  m.from = from.value();
  m.to = self_;
  m.token = *t;
  m.op_id = op_id;
  m.type = MessageType::kQuery;
  if (value != nullptr) {
    auto vv = FromProto(*value);
    if (!vv.ok()) {
      call->Finish(ToGrpc(vv.status()));
      return call;
    }
    m.type = MessageType::kUpdate;
    m.vv = std::move(vv).value();
  }
  executor_->Post([this, id, call, m = std::move(m)] {
    calls_.emplace(id, call);
    host_.OnPeerCall(id, m);
  });
  return call;
}

// ---- executor thread: the world of the host -----------------------------------------------

void NodeServer::Impl::StartTimer(std::int64_t at_ns, host::CallId call) {
  const SteadyClock::time_point at{std::chrono::nanoseconds(at_ns)};
  executor_->PostAt(at, [this, call] { host_.OnTimer(call); });
}

void NodeServer::Impl::Send(const Message& m) {
  PeerLink* link = links_[m.to].get();
  TOKEN_ASSERT(link != nullptr, "a node sends only to nodes it shares a token with");
  pb::PeerMessage* pm = link->Add();
  pm->set_type(ToProto(m.type));
  pm->set_token(scheme_->token(m.token).id);
  pm->set_op_id(m.op_id);
  if (m.type == MessageType::kQueryReply || m.type == MessageType::kUpdate) {
    ToProto(m.vv, pm->mutable_value());
  }
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
    call->Finish(status);
    return;
  }
  auto* r = static_cast<pb::TokenReply*>(call->response_);
  ToProto(reply, r);
  r->set_node(self_name_);
  call->Finish(grpc::Status::OK);
}

void NodeServer::Impl::AnswerPeer(host::CallId id, const Result<Message>& reply) {
  Call* call = TakeCall(id);
  if (!reply.ok()) {
    call->Finish(ToGrpc(reply.status()));
    return;
  }
  const Message& m = reply.value();
  const std::string& token = scheme_->token(m.token).id;
  if (m.type == MessageType::kQueryReply) {
    auto* r = static_cast<pb::PeerMessage*>(call->response_);
    r->set_type(pb::QUERY_REPLY);
    r->set_token(token);
    r->set_op_id(m.op_id);
    ToProto(m.vv, r->mutable_value());
  } else {
    auto* r = static_cast<pb::UpdateAck*>(call->response_);
    r->set_token(token);
    r->set_op_id(m.op_id);
  }
  call->Finish(grpc::Status::OK);
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
  if (Status s = store_->Append(batch, std::move(records)); !s.ok() && !store_failed_) {
    StoreFailed(s);
  }
}

void NodeServer::Impl::Start(host::JobId job_id, const ComputeRequest& request) {
  auto job = std::make_shared<ComputePool::Job>();
  job->name = request.name;
  job->from = request.from;
  job->to = request.to;
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
  if (Status s = impl->Serve(); !s.ok()) return s;
  return std::unique_ptr<NodeServer>(new NodeServer(std::move(impl)));
}

NodeServer::NodeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeServer::~NodeServer() { Shutdown(); }
void NodeServer::Shutdown() { impl_->Shutdown(); }
const std::string& NodeServer::self() const { return impl_->self_name(); }
int NodeServer::port() const { return impl_->port(); }

}  // namespace token::net
