#include "net_grpc/node_server.h"

#include <malloc.h>

#include <algorithm>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <grpc/support/cpu.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "base/text.h"
#include "core/address.h"
#include "net_grpc/node_server_impl.h"

namespace token::net {
namespace {

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

// gRPC's callback threads parked by the nodes of this process (ParkCallbackThreads).
std::mutex g_parking_mu;
int g_parked_threads = 0;

std::uint64_t FirstOpIdNow() {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return FirstOpIdAtUnixMs(static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)));
}

}  // namespace

std::uint64_t FirstOpIdAtUnixMs(std::uint64_t unix_ms) { return (unix_ms << 22) + 1; }

// ---- start and stop ---------------------------------------------------------------------

// A node that shares tokens with others starts only with a way to authenticate them, or
// with --insecure-peers (and a warning), never with both.
Status NodeServer::Impl::CheckPeerAuthentication() {
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
  return Status::Ok();
}

Status NodeServer::Impl::ListenForPeers(const std::string& listen) {
  PeerNet::Handlers h;
  h.identify = [this](const pb::PeerHello& hello, std::string_view source) {
    auto from =
        IdentifyClaim(peer_check_, "Socket", hello.node(), hello.scheme(), hello.auth(), source);
    if (!from.ok()) CountRefusal("socket", source, from.status());
    return from;
  };
  h.deliver = [this](NodeIndex from, std::unique_ptr<pb::PeerBatch> batch) {
    // Handled on PeerNet's thread when the executor is idle (no wake-up of its thread).
    executor_->RunOrPost([this, from, batch = std::shared_ptr<pb::PeerBatch>(std::move(batch))] {
      OnPeerBatch(from, *batch);
    });
  };
  // A socket from a peer: it is up (perhaps restarted), so our link to it may reconnect at
  // once instead of waiting out its backoff. The links exist before PeerNet starts.
  h.peer_up = [this](NodeIndex from) {
    if (from < links_.size() && links_[from]) links_[from]->PeerIsUp();
  };
  h.log = [this](const std::string& line) { Log(line); };
  auto net = PeerNet::Listen(listen, KeepaliveTime().value(), std::move(h));
  if (!net.ok()) return net.status();
  peer_net_ = std::move(net).value();
  return Status::Ok();
}

void NodeServer::Impl::OpenPeerLinks() {
  // One link per node that shares a token with this one (a token's replica set is its
  // writer and its readers, so this covers every coordinator role too).
  links_.resize(scheme_->nodes().size());
  for (TokenIndex t : scheme_->TokensOf(self_)) {
    for (NodeIndex n : scheme_->token(t).replicas) {
      if (n == self_ || links_[n]) continue;
      auto log = [this](const std::string& line) { Log(line); };
      if (peer_net_) {
        auto address = ParseAddress(scheme_->node(n));
        TOKEN_ASSERT(address.ok(), "the scheme's addresses were checked when it was read");
        links_[n] = std::make_unique<SocketLink>(peer_net_.get(), std::move(address).value(),
                                                 self_name_, scheme_->node(n), fingerprint_,
                                                 options_.cluster_secret, std::move(log));
        continue;
      }
      auto channel = grpc::CreateCustomChannel(scheme_->node(n), channel_credentials_,
                                               DefaultChannelArguments());
      links_[n] = std::make_unique<PeerLink>(std::move(channel), self_name_, scheme_->node(n),
                                             fingerprint_, options_.cluster_secret, std::move(log));
    }
  }
}

Status NodeServer::Impl::Serve() {
  if (auto keepalive = KeepaliveTime(); !keepalive.ok()) return keepalive.status();
  if (Status s = CheckPeerAuthentication(); !s.ok()) return s;
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

  const std::string listen = options_.listen.empty() ? self_name_ : options_.listen;
  if (options_.peer_sockets && !options_.tls.enabled()) {
    if (Status s = ListenForPeers(listen); !s.ok()) {
      executor_->Stop();
      return s;
    }
  }
  OpenPeerLinks();
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
  // Without this gRPC sets SO_REUSEPORT, and a second server on a busy port would start
  // and silently share the connections with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  ConfigureServer(builder);
  if (peer_net_) {
    // PeerNet accepts on the node's port and hands gRPC what is not a peer socket.
    grpc_acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
        server_credentials.value());
    port_ = peer_net_->port();
  } else {
    builder.AddListeningPort(listen, server_credentials.value(), &port_);
  }
  builder.RegisterService(&client_service_);
  builder.RegisterService(&replica_service_);
  builder.RegisterService(&admin_service_);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    executor_->Stop();
    return Status::Unavailable(
        fmt::format("cannot listen on {} (address in use or not local?)", listen));
  }
  if (peer_net_) peer_net_->Start(grpc_acceptor_.get());
  ParkCallbackThreads();
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
  o.inline_commit_below = options_.inline_commit_below;
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
    ReleaseParkedThreads();
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
    // No batch reaches the executor from here on; gRPC gets no new connection.
    if (peer_net_) peer_net_->Stop();
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
  // Handled on this gRPC thread when the executor is idle (no wake-up of its thread).
  executor_->RunOrPost([this, id, call, request = std::move(request), deadline_ns]() mutable {
    calls_.emplace(id, call);
    calls_peak_ = std::max(calls_peak_, calls_.size());
    host_.OnClientCall(id, std::move(request), deadline_ns);
  });
  return call;
}

Result<NodeIndex> NodeServer::Impl::Identify(const grpc::CallbackServerContext& ctx,
                                             std::string_view method) {
  auto from = IdentifyPeer(peer_check_, ctx, method);
  if (!from.ok()) CountRefusal(method, ctx.peer(), from.status());
  return from;
}

void NodeServer::Impl::CountRefusal(std::string_view method, std::string_view from,
                                    const Status& why) {
  // Cheap for a flood: no executor task, and a log line only at the 1st, 2nd, 4th, ...
  // refusal.
  const std::uint64_t n = ++peer_auth_refused_;
  if ((n & (n - 1)) == 0) {
    Log(fmt::format("node {}: refused a peer {} from {} ({} refused so far): {}", self_name_,
                    method, from, n, why.message()));
  }
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
  executor_->RunOrPost([this, id, call, m = std::move(m)] {
    calls_.emplace(id, call);
    host_.OnPeerCall(id, m);
  });
  return call;
}

// gRPC 1.51 runs every callback reaction of a process (server and client) on "nexting"
// threads (clamp(cores / 2, 2, 16) of them) that share one completion queue; on every
// completion the thread that polled hands the poller role to another (a futex wake) before
// it runs the reaction, and sleeps again after: about 25 context switches per operation at
// 1 client, and half of a node's CPU went to switching threads on this VM (perf:
// pvm_irq_enable under futex_wait). All but options_.callback_threads of them are parked
// here for the node's life: the reaction of a health check the node sends itself waits
// until shutdown, holding its thread (a parked thread takes no other reaction, so each
// call parks another). With one left, it polls and runs every reaction alone, like an
// event loop. The number is gRPC's own rule (completion_queue_cc.cc), so a later gRPC that
// starts more threads only leaves more of them running.
void NodeServer::Impl::ParkCallbackThreads() {
  if (options_.callback_threads <= 0) return;
  const int started = std::clamp(static_cast<int>(gpr_cpu_num_cores()) / 2, 2, 16);
  // The threads are the process's, not this node's: a second node in the process parks
  // only what the first left running.
  int to_park = 0;
  {
    std::lock_guard lock(g_parking_mu);
    to_park = started - options_.callback_threads - g_parked_threads;
    if (to_park <= 0) return;
    g_parked_threads += to_park;
  }
  parking_ = std::make_unique<Parking>();
  Parking* p = parking_.get();
  p->channel =
      grpc::CreateCustomChannel(self_name_, channel_credentials_, DefaultChannelArguments());
  p->stub = grpc::health::v1::Health::NewStub(p->channel);
  for (int i = 0; i < to_park; ++i) {
    auto& call = p->calls.emplace_back(std::make_unique<Parked>());
    call->ctx.set_wait_for_ready(true);
    p->stub->async()->Check(&call->ctx, &call->request, &call->response, [p](const grpc::Status&) {
      std::unique_lock lock(p->mu);
      ++p->parked;
      p->cv.notify_all();
      p->cv.wait(lock, [p] { return p->release; });
      --p->parked;
      p->cv.notify_all();
    });
  }
}

void NodeServer::Impl::ReleaseParkedThreads() {
  if (!parking_) return;
  Parking* p = parking_.get();
  {
    std::lock_guard lock(g_parking_mu);
    g_parked_threads -= static_cast<int>(p->calls.size());
  }
  {
    std::lock_guard lock(p->mu);
    p->release = true;
  }
  p->cv.notify_all();
  // A call not answered yet ends now; its reaction then returns at once.
  for (auto& call : p->calls) call->ctx.TryCancel();
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
