// NodeServer's insides (net_grpc/node_server.h), shared by its files: node_server.cc (start,
// stop and the gRPC threads' side) and node_server_world.cc (the host's world on the
// executor thread). Not for use outside the node server.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "host/host.h"
#include "net_grpc/compute_pool.h"
#include "net_grpc/convert.h"
#include "net_grpc/executor.h"
#include "net_grpc/metrics.h"
#include "net_grpc/node_server.h"
#include "net_grpc/peer_auth.h"
#include "net_grpc/peer_identity.h"
#include "net_grpc/peer_link.h"
#include "net_grpc/peer_socket.h"
#include "net_grpc/raw_codec.h"
#include "proto/health.grpc.pb.h"
#include "proto/token.grpc.pb.h"
#include "storage/store.h"

namespace token::net {

namespace pb = tokenmgr::v1;
using SteadyClock = std::chrono::steady_clock;

// The host's clock: nanoseconds of the steady clock.
inline std::int64_t ToNs(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

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
  // Inline commits only while at most this many calls are in flight (Write).
  static constexpr std::size_t kInlineCommitMaxCalls = 2;
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
    // Posted, never run here: with InternalInlineable this runs on whatever thread ends
    // the call (a poller, the executor inside Finish, or Shutdown inside gRPC's
    // cancel-all under the server's lock), no place for the host's tasks. Cancels are rare.
    void OnCancel() override {
      impl_->executor_->Post([impl = impl_, id = id_] { impl->host_.OnCallCancelled(id); });
    }
    void OnDone() override { delete this; }
    // OnDone and OnCancel run on the thread that ends the call instead of a hop to gRPC's
    // default executor thread, a thread wake-up per call (bench/op_syscalls.sh;
    // docs/ARCHITECTURE.md, "Latency"). gRPC keeps this for reactors with trivial
    // reactions ("not API": its DefaultReactor has it; check it again on a gRPC upgrade),
    // and ours are: OnDone deletes the Call, which nothing touches after Complete
    // (TakeCall removed it from the table first); OnCancel posts a task.
    bool InternalInlineable() override { return true; }
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
      // The next read first: the batch may be handled on this thread (RunOrPost).
      StartRead(&batch_);
      impl_->executor_->RunOrPost([impl = impl_, from = from_, batch = std::move(batch)] {
        impl->OnPeerBatch(from, *batch);
      });
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
  // A refused peer call, stream or socket: counted (peer_auth_refused), logged now and then.
  void CountRefusal(std::string_view method, std::string_view from, const Status& why);

  // ---- executor thread ------------------------------------------------------------------
  void OnPeerBatch(NodeIndex from, const pb::PeerBatch& batch);
  Call* TakeCall(host::CallId id);
  void FlushPeers();
  grpc::Status CrashToken(const std::string& id, pb::CrashTokenReply* reply);
  void FillStatus(pb::StatusReply* reply);
  NodeGauges Gauges();  // executor thread
  Status ServeMetrics();
  // Serve's steps: refuse peers that cannot be authenticated; open the links to them.
  Status CheckPeerAuthentication();
  // Binds the node's port for PeerNet (peer sockets, and gRPC's connections through it).
  Status ListenForPeers(const std::string& listen);
  void OpenPeerLinks();

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
  std::vector<std::unique_ptr<PeerSender>> links_;  // by NodeIndex

  std::atomic<std::uint64_t> next_call_id_{1};
  std::mutex log_mu_;

  ClientService client_service_;
  ReplicaService replica_service_;
  AdminService admin_service_;
  std::unique_ptr<ComputePool> pool_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<storage::Store> store_;  // null: state in memory only
  std::atomic<bool> store_failed_{false};
  // Peer sockets (peer_socket.h): without TLS, PeerNet owns the node's port and hands gRPC
  // its connections through the acceptor. Null with TLS or options_.peer_sockets off.
  // (In this order so that PeerNet, which hands connections to the acceptor, goes first;
  // Shutdown stops it before either goes anyway.)
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc_acceptor_;
  std::unique_ptr<PeerNet> peer_net_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  SteadyClock::time_point started_;
  Metrics metrics_;
  std::deque<std::pair<host::BatchId, SteadyClock::time_point>> appended_;  // executor thread
  std::unique_ptr<MetricsServer> metrics_server_;
  // ParkCallbackThreads (options_.callback_threads): the calls whose reactions hold gRPC's
  // surplus callback threads until ReleaseParkedThreads.
  void ParkCallbackThreads();
  void ReleaseParkedThreads();
  struct Parked {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
  };
  struct Parking {
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    int parked = 0;  // reactions waiting for the release
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<grpc::health::v1::Health::Stub> stub;
    std::vector<std::unique_ptr<Parked>> calls;
  };
  std::unique_ptr<Parking> parking_;
  std::once_flag shutdown_once_;
};

}  // namespace token::net
