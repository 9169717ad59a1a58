#include "net_grpc/node_server.h"

#include <malloc.h>
#include <unistd.h>

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

#include "base/text.h"
#include "core/address.h"
#include "core/token_hash.h"
#include "host/host.h"
#include "net_grpc/compute_pool.h"
#include "net_grpc/convert.h"
#include "net_grpc/executor.h"
#include "net_grpc/metrics.h"
#include "net_grpc/peer_identity.h"
#include "net_grpc/peer_link.h"
#include "net_grpc/raw_codec.h"
#include "proto/token.grpc.pb.h"
#include "storage/store.h"

namespace token::net {

namespace pb = tokenmgr::v1;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kStatusNameBytes = 64;

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

// The first operation id of this process (Node::OnStart: no earlier process of this node
// may have used it). The wall clock in milliseconds times 2^22: a process uses fewer than
// 2^22 ids per millisecond of its life (4 billion operations a second), so every id it
// used is below the first id of any process started later, with no counter to keep on
// disk (a replacement has none). Only a wall clock set back across a restart, to before
// the old process's start plus its ids / 2^22 ms, could let them meet. Good until 2109.
std::uint64_t FirstOpIdNow() {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return (static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)) << 22) + 1;
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
        fingerprint_(SchemeFingerprint(*scheme_)),
        secret_auth_(options_.cluster_secret.empty()
                         ? nullptr
                         : std::make_unique<PeerAuthenticator>(options_.cluster_secret, self_name_,
                                                               fingerprint_)),
        peer_check_{scheme_.get(), self, fingerprint_, options_.tls.enabled(), secret_auth_.get()},
        host_(scheme_, self, HostOptionsOf(options_),
              host::World{.clock = this, .transport = this, .compute = this, .storage = this}),
        client_service_(this),
        replica_service_(this),
        admin_service_(this),
        started_(SteadyClock::now()) {}

  Status Serve();
  void TrimAfterCalls();
  static constexpr std::chrono::seconds kTrimEvery{1};
  static constexpr std::size_t kTrimPeak = 1024;
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
    h.node.max_domain = o.max_domain;
    h.op_timeout_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(o.op_timeout).count();
    h.max_held_calls = o.max_held_calls;
    h.max_calls_per_token = o.max_calls_per_token;
    h.max_calls = o.max_calls;
    // The answer to a call that gives up must cross the network and a busy machine before
    // the caller's deadline: a fifth of the time it allowed, 20..100 ms.
    h.give_up_share = 5;
    h.give_up_min_margin_ns = 20'000'000;
    h.give_up_margin_ns = 100'000'000;
    h.log_requests = o.log_requests;
    h.log = [this](std::string_view line) { Log(line); };
    return h;
  }

  // A unary call answered later on the executor. Lives until gRPC's OnDone. Owns its
  // reply, encoded into the call's output when it completes.
  class Call : public grpc::ServerUnaryReactor {
   public:
    Call(Impl* impl, host::CallId id, std::unique_ptr<google::protobuf::Message> response,
         grpc::ByteBuffer* out)
        : impl_(impl), id_(id), response_(std::move(response)), out_(out) {}
    void OnCancel() override {
      impl_->executor_->Post([impl = impl_, id = id_] { impl->host_.OnCallCancelled(id); });
    }
    void OnDone() override { delete this; }
    void Complete(const grpc::Status& status) { Finish(EncodeReply(status, *response_, out_)); }

    Impl* const impl_;
    const host::CallId id_;
    const std::unique_ptr<google::protobuf::Message> response_;
    grpc::ByteBuffer* const out_;
    // Client calls: the operation and when it arrived (metrics).
    Metrics::Op op_ = Metrics::Op::kRead;
    SteadyClock::time_point started_{};
  };

  using RawClientService = pb::TokenManager::WithRawCallbackMethod_Create<
      pb::TokenManager::WithRawCallbackMethod_Drop<pb::TokenManager::WithRawCallbackMethod_Write<
          pb::TokenManager::WithRawCallbackMethod_Read<pb::TokenManager::CallbackService>>>>;
  class ClientService final : public RawClientService {
   public:
    explicit ClientService(Impl* impl) : impl_(impl) {}
    grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                     grpc::ByteBuffer* out) override {
      pb::CreateRequest req;
      if (auto s = DecodeRequest(*in, &req); !s.ok()) return Refuse(ctx, s);
      return impl_->StartClientCall(ctx, ClientRequest{0, OpKind::kCreate, req.id(), {}}, out);
    }
    grpc::ServerUnaryReactor* Drop(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) override {
      pb::DropRequest req;
      if (auto s = DecodeRequest(*in, &req); !s.ok()) return Refuse(ctx, s);
      return impl_->StartClientCall(ctx, ClientRequest{0, OpKind::kDrop, req.id(), {}}, out);
    }
    grpc::ServerUnaryReactor* Write(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                    grpc::ByteBuffer* out) override {
      pb::WriteRequest req;
      if (auto s = DecodeRequest(*in, &req); !s.ok()) return Refuse(ctx, s);
      return impl_->StartClientCall(
          ctx,
          ClientRequest{0, OpKind::kWrite, req.id(),
                        Domain{std::move(*req.mutable_name()), req.low(), req.mid(), req.high()}},
          out);
    }
    grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) override {
      pb::ReadRequest req;
      if (auto s = DecodeRequest(*in, &req); !s.ok()) return Refuse(ctx, s);
      return impl_->StartClientCall(ctx, ClientRequest{0, OpKind::kRead, req.id(), {}}, out);
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

  using RawReplicaService = pb::Replica::WithRawCallbackMethod_Query<
      pb::Replica::WithRawCallbackMethod_Update<pb::Replica::CallbackService>>;
  class ReplicaService final : public RawReplicaService {
   public:
    explicit ReplicaService(Impl* impl) : impl_(impl) {}
    grpc::ServerReadReactor<pb::PeerBatch>* Deliver(grpc::CallbackServerContext* ctx,
                                                    pb::DeliverSummary* summary) override {
      auto from = impl_->Identify(*ctx, "Deliver");
      if (!from.ok()) {
        struct RefuseStream : grpc::ServerReadReactor<pb::PeerBatch> {
          explicit RefuseStream(grpc::Status s) { Finish(std::move(s)); }
          void OnDone() override { delete this; }
        };
        return new RefuseStream(ToGrpc(from.status()));
      }
      // A new stream from a peer: it is up (perhaps restarted), so our link to it may
      // reconnect at once instead of waiting out its backoff.
      impl_->executor_->Post([impl = impl_, from = from.value()] {
        if (impl->links_[from]) impl->links_[from]->PeerIsUp();
      });
      return new DeliverReactor(impl_, from.value(), summary);
    }
    grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                    grpc::ByteBuffer* out) override {
      pb::QueryRequest req;
      if (auto s = DecodeRequest(*in, &req); !s.ok()) return Refuse(ctx, s);
      return impl_->StartPeerCall(ctx, "Query", req.token(), req.op_id(), nullptr,
                                  std::make_unique<pb::PeerMessage>(), out);
    }
    grpc::ServerUnaryReactor* Update(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                     grpc::ByteBuffer* out) override {
      pb::UpdateRequest req;
      if (auto s = DecodeRequest(*in, &req); !s.ok()) return Refuse(ctx, s);
      return impl_->StartPeerCall(ctx, "Update", req.token(), req.op_id(), &req.value(),
                                  std::make_unique<pb::UpdateAck>(), out);
    }

   private:
    Impl* impl_;
  };

  using RawAdminService = pb::Admin::WithRawCallbackMethod_CrashToken<
      pb::Admin::WithRawCallbackMethod_Status<pb::Admin::CallbackService>>;
  class AdminService final : public RawAdminService {
   public:
    explicit AdminService(Impl* impl) : impl_(impl) {}
    grpc::ServerUnaryReactor* CrashToken(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* in,
                                         grpc::ByteBuffer* out) override {
      pb::CrashTokenRequest req;
      if (auto s = DecodeRequest(*in, &req); !s.ok()) return Refuse(ctx, s);
      auto* reactor = ctx->DefaultReactor();
      impl_->executor_->Post([impl = impl_, id = req.id(), reactor, out] {
        pb::CrashTokenReply reply;
        const grpc::Status s = impl->CrashToken(id, &reply);
        reactor->Finish(EncodeReply(s, reply, out));
      });
      return reactor;
    }
    grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                     grpc::ByteBuffer* out) override {
      pb::StatusRequest req;
      if (auto s = DecodeRequest(*in, &req); !s.ok()) return Refuse(ctx, s);
      auto* reactor = ctx->DefaultReactor();
      impl_->executor_->Post([impl = impl_, reactor, out] {
        pb::StatusReply reply;
        impl->FillStatus(&reply);
        reactor->Finish(EncodeReply(grpc::Status::OK, reply, out));
      });
      return reactor;
    }

   private:
    Impl* impl_;
  };

  // ---- gRPC threads ---------------------------------------------------------------------
  grpc::ServerUnaryReactor* StartClientCall(grpc::CallbackServerContext* ctx, ClientRequest request,
                                            grpc::ByteBuffer* out);
  // The calling peer, or why it is refused (counted, and logged now and then).
  Result<NodeIndex> Identify(const grpc::CallbackServerContext& ctx, std::string_view method);
  grpc::ServerUnaryReactor* StartPeerCall(grpc::CallbackServerContext* ctx, std::string_view method,
                                          const std::string& token, std::uint64_t op_id,
                                          const pb::VersionedValue* value,
                                          std::unique_ptr<google::protobuf::Message> reply,
                                          grpc::ByteBuffer* out);
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
  const std::string fingerprint_;
  const std::unique_ptr<PeerAuthenticator> secret_auth_;
  const PeerCheck peer_check_;
  std::atomic<std::uint64_t> peer_auth_refused_{0};
  const std::string instance_ = RandomHex(8);  // StatusReply.instance
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials_;

  // Executor thread only.
  host::Host host_;
  std::unordered_map<host::CallId, Call*> calls_;  // reactors of the calls in flight
  // Memory given back after a wave of calls (TrimAfterCalls): the most calls in flight
  // since the last trim, and how many trims ran.
  std::size_t calls_peak_ = 0;
  std::uint64_t trims_ = 0;
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
  if (auto keepalive = KeepaliveTime(); !keepalive.ok()) return keepalive.status();
  bool has_peers = false;
  for (TokenIndex t : scheme_->TokensOf(self_)) {
    has_peers = has_peers || scheme_->token(t).replicas.size() > 1;
  }
  const bool authenticated = options_.tls.enabled() || !options_.cluster_secret.empty();
  if (options_.insecure_peers && authenticated) {
    return Status::InvalidArgument(
        "--insecure-peers contradicts --cluster-secret-file and --tls-*: give one or the other");
  }
  if (has_peers && !authenticated && !options_.insecure_peers) {
    return Status::InvalidArgument(fmt::format(
        "node {} shares tokens with other nodes but has no way to authenticate them: give "
        "every node the same --cluster-secret-file (or mutual TLS: --tls-cert, --tls-key, "
        "--tls-ca); --insecure-peers runs without, letting any local process speak for a "
        "node (docs/SECURITY.md)",
        self_name_));
  }
  if (has_peers && options_.insecure_peers) {
    Log(
        fmt::format("node {}: WARNING: --insecure-peers: peers are not authenticated; any "
                    "process that can reach this node from its peers' hosts can change its "
                    "tokens",
                    self_name_));
  }
  auto server_credentials = MakeServerCredentials(options_.tls);
  if (!server_credentials.ok()) return server_credentials.status();
  auto channel_credentials = MakeChannelCredentials(options_.tls);
  if (!channel_credentials.ok()) return channel_credentials.status();
  channel_credentials_ = channel_credentials.value();

  pool_ = std::make_unique<ComputePool>(options_.compute_workers > 0 ? options_.compute_workers
                                                                     : DefaultComputeWorkers());
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
                                             fingerprint_, options_.cluster_secret,
                                             [this](const std::string& line) { Log(line); });
    }
  }
  if (Status s = ServeMetrics(); !s.ok()) {
    executor_->Stop();
    return s;
  }
  // The host starts (and may send its catch-up queries) once the links exist, and before
  // any call reaches it: the executor runs tasks in order.
  executor_->Post([this, start = std::move(start).value()] {
    host_.Start(start.first, start.second, FirstOpIdNow());
  });
  executor_->PostAt(SteadyClock::now() + kTrimEvery, [this] { TrimAfterCalls(); });
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string listen = options_.listen.empty() ? self_name_ : options_.listen;
  // Without this gRPC sets SO_REUSEPORT, and a second server on a busy port would start
  // and silently share the connections with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  ConfigureServer(builder);
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
  Log(fmt::format(
      "node {} serving on {} ({} tokens here, scheme {}, peers authenticated by {})", self_name_,
      listen, scheme_->TokensOf(self_).size(), fingerprint_.substr(0, 12),
      options_.tls.enabled()
          ? (options_.cluster_secret.empty() ? "TLS" : "TLS and the cluster secret")
          : (options_.cluster_secret.empty() ? "nothing (insecure)" : "the cluster secret")));
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

// malloc keeps the memory of freed calls in its arenas (10,000s of held calls are
// hundreds of MB, mostly gRPC's per-call state); once the calls in flight have fallen to a
// quarter of their peak, it is handed back to the system.
void NodeServer::Impl::TrimAfterCalls() {
  if (calls_peak_ >= kTrimPeak && calls_.size() <= calls_peak_ / 4) {
    malloc_trim(0);
    ++trims_;
    calls_peak_ = calls_.size();
  }
  executor_->PostAt(SteadyClock::now() + kTrimEvery, [this] { TrimAfterCalls(); });
}

grpc::ServerUnaryReactor* NodeServer::Impl::StartClientCall(grpc::CallbackServerContext* ctx,
                                                            ClientRequest request,
                                                            grpc::ByteBuffer* out) {
  const host::CallId id = next_call_id_++;
  auto reply = std::make_unique<pb::TokenReply>();
  reply->set_id(request.token);  // sent only with an ok reply
  auto* call = new Call(this, id, std::move(reply), out);
  call->started_ = SteadyClock::now();
  call->op_ = MetricOp(request.kind);
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
    calls_peak_ = std::max(calls_peak_, calls_.size());
    host_.OnClientCall(id, std::move(request), deadline_ns);
  });
  return call;
}

Result<NodeIndex> NodeServer::Impl::Identify(const grpc::CallbackServerContext& ctx,
                                             std::string_view method) {
  auto from = IdentifyPeer(peer_check_, ctx, method);
  if (!from.ok()) {
    // Cheap for a flood: no executor task, and a log line only at the 1st, 2nd, 4th, ...
    // refusal.
    const std::uint64_t n = ++peer_auth_refused_;
    if ((n & (n - 1)) == 0) {
      Log(fmt::format("node {}: refused a peer {} from {} ({} refused so far): {}", self_name_,
                      method, ctx.peer(), n, from.status().message()));
    }
  }
  return from;
}

grpc::ServerUnaryReactor* NodeServer::Impl::StartPeerCall(
    grpc::CallbackServerContext* ctx, std::string_view method, const std::string& token,
    std::uint64_t op_id, const pb::VersionedValue* value,
    std::unique_ptr<google::protobuf::Message> reply, grpc::ByteBuffer* out) {
  auto from = Identify(*ctx, method);
  if (!from.ok()) return Refuse(ctx, ToGrpc(from.status()));
  const auto t = scheme_->FindToken(token);
  if (!t) {
    return Refuse(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                    fmt::format("unknown token '{}'", Abbreviate(token))));
  }
  Message m;
  m.from = from.value();
  m.to = self_;
  m.token = *t;
  m.op_id = op_id;
  m.type = MessageType::kQuery;
  if (value != nullptr) {
    auto vv = FromProto(*value);
    if (!vv.ok()) return Refuse(ctx, ToGrpc(vv.status()));
    m.type = MessageType::kUpdate;
    m.vv = std::move(vv).value();
  }
  const host::CallId id = next_call_id_++;
  auto* call = new Call(this, id, std::move(reply), out);
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
  if (Status s = store_->Append(batch, std::move(records)); !s.ok() && !store_failed_) {
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

// ---- NodeServer -----------------------------------------------------------------------------

Result<std::unique_ptr<NodeServer>> NodeServer::Start(NodeServerOptions options) {
  if (!options.scheme) return Status::InvalidArgument("no replication scheme");
  const auto self = options.scheme->FindNode(options.self);
  if (!self) {
    return Status::InvalidArgument(
        fmt::format("{} is not a node of the replication scheme; its nodes are {}", options.self,
                    fmt::join(options.scheme->nodes(), ", ")));
  }
  if (!options.listen.empty()) {
    // Where it binds (0.0.0.0:P or [::]:P allowed): an IP address and a port in 1..65535.
    if (auto listen = ParseAddress(options.listen); !listen.ok()) {
      return Status::InvalidArgument(fmt::format("--listen: {}", listen.status().message()));
    }
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
