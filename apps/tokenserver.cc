// tokenserver: one node of the replicated token manager, over gRPC.
//
//   tokenserver --config FILE --listen IP:PORT     a node of the scheme in FILE; its
//                                                   identity is its access point there
//   tokenserver -port 50051                        the original style: 127.0.0.1:50051,
//                                                   with --config FILE or, without one, as a
//                                                   single node owning tokens 1..--tokens
//   tokenserver --help                             every flag (harness/cli, CLI11)
//
// Logs each client request with the token's state; stops cleanly on SIGINT or SIGTERM.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>

#include <absl/synchronization/mutex.h>
#include <fmt/format.h>
#include <pthread.h>

#include "core/scheme_yaml.h"
#include "harness/cli.h"
#include "net_grpc/compute_pool.h"
#include "net_grpc/node_server.h"
#include "net_grpc/peer_auth.h"

namespace {

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "tokenserver: %s\n", message.c_str());
  if (code == tokenapp::cli::kUsage) std::fprintf(stderr, "(tokenserver --help for usage)\n");
  return code;
}

struct Flags {
  std::string config, listen, node, data_dir, initial_state, cluster_secret_file, metrics_listen;
  std::uint64_t port = 0, tokens = 100, op_timeout_ms = 5000, max_held_calls = 100'000;
  std::uint64_t workers = token::net::DefaultComputeWorkers();
  std::uint64_t inline_argmin_points = token::net::NodeServerOptions::kDefaultInlineArgminPoints;
  std::uint64_t inline_commit_us = token::net::NodeServerOptions::kDefaultInlineCommitBelowUs;
  std::uint64_t callback_threads = token::net::NodeServerOptions::kDefaultCallbackThreads;
  std::uint64_t max_domain = token::NodeOptions::kDefaultMaxDomain;
  std::uint64_t max_calls_per_token = 1'000;
  bool no_fast_read = false, quiet = false, insecure_peers = false;
  std::string peer_transport = "socket";
  token::net::TlsFiles tls;
};

void Define(CLI::App& app, Flags& f) {
  tokenapp::cli::Configure(
      app, "tokenserver",
      "One node of the replicated token manager, over gRPC: tokenserver --config FILE "
      "--listen IP:PORT. The original style, tokenserver -port 50051, serves on "
      "127.0.0.1:PORT (with --config, or alone as one node owning tokens 1..--tokens). Logs "
      "each client request; stops cleanly on SIGINT or SIGTERM.",
      "0 after a clean stop (SIGINT, SIGTERM), 1 when it cannot serve or "
      "its storage failed (restart it: it recovers from --data-dir), 2 on "
      "bad flags or config");
  auto* config = app.add_option("--config", f.config,
                                "the replication scheme (YAML, see "
                                "docs/FORMATS.md)")
                     ->type_name("FILE");
  auto* listen = app.add_option("--listen", f.listen,
                                "this node's access point as named in FILE (also "
                                "where it binds)")
                     ->type_name("IP:PORT");
  app.add_option("--node", f.node,
                 "this node's identity when it binds elsewhere (--listen "
                 "0.0.0.0:P)")
      ->type_name("IP:PORT");
  tokenapp::cli::AddNumber(app, "--port", &f.port, 1, 65535,
                           "listen on 127.0.0.1:PORT (the original tokenserver's flag)")
      ->excludes(listen);
  tokenapp::cli::AddNumber(app, "--tokens", &f.tokens, 1, 1'000'000,
                           "without --config: one node owning tokens \"1\"..\"N\"")
      ->excludes(config);
  tokenapp::cli::AddNumber(app, "--workers", &f.workers, 1, 256,
                           "argmin worker threads (default: one per core, at most 8); tokens "
                           "take turns on them, a few ms of hashing at a time");
  tokenapp::cli::AddNumber(app, "--inline-argmin-points", &f.inline_argmin_points, 0, 1'000'000,
                           "an argmin over at most this many values runs on the node's own "
                           "thread instead of a hop to a worker and back (0: never)");
  tokenapp::cli::AddNumber(app, "--inline-commit-us", &f.inline_commit_us, 0, 1'000'000,
                           "with --data-dir: while the log's commits (write and fdatasync) "
                           "average less than this many microseconds, the node commits on its "
                           "own thread instead of a hop to the sync thread and back (tmpfs: "
                           "yes, disks: no; 0: never)");
  tokenapp::cli::AddNumber(app, "--callback-threads", &f.callback_threads, 0, 16,
                           "how many of gRPC's callback threads serve; the others (gRPC "
                           "starts half the cores, 2 to 16) are parked, so that completions "
                           "do not hand polling from thread to thread (0: all serve)");
  tokenapp::cli::AddNumber(app, "--max-domain", &f.max_domain, 1, 1'000'000'000'000,
                           "the most values a write's domain [low, high) may hold; a larger one "
                           "is refused INVALID_ARGUMENT (about 2.5 s of one core per argmin at "
                           "the default)");
  tokenapp::cli::AddNumber(app, "--op-timeout-ms", &f.op_timeout_ms, 1, 3'600'000,
                           "how long an operation waits for a quorum when the caller set no "
                           "deadline; a caller's own deadline, longer or shorter, is never "
                           "changed by it");
  tokenapp::cli::AddNumber(app, "--max-held-calls", &f.max_held_calls, 1, 100'000'000,
                           "bound on calls held silently for crashed tokens");
  tokenapp::cli::AddNumber(app, "--max-calls-per-token", &f.max_calls_per_token, 1, 100'000'000,
                           "bound on client calls in flight about one token, held or waiting "
                           "for a quorum: one token in trouble never takes the node's other "
                           "tokens down with it");
  app.add_flag("--no-fast-read", f.no_fast_read, "always run the impose phase of reads");
  app.add_option("--peer-transport", f.peer_transport,
                 "how protocol messages travel between nodes: socket (length-prefixed batches on "
                 "TCP connections of the node's own, on its gRPC port; the default) or grpc "
                 "(gRPC streams). With TLS always grpc. Every node of a cluster must use the "
                 "same (docs/ARCHITECTURE.md, \"Peer traffic\")")
      ->check(CLI::IsMember({"socket", "grpc"}))
      ->type_name("socket|grpc");
  app.add_option("--metrics-listen", f.metrics_listen,
                 "serve Prometheus metrics over HTTP at http://HOST:PORT/metrics (operations "
                 "by type and outcome, latency histograms, held calls, crashed tokens, peer "
                 "links, dropped messages, storage commit latency)")
      ->type_name("HOST:PORT");
  app.add_flag("--quiet", f.quiet, "do not log each request");
  tokenapp::cli::AddTlsOptions(app, &f.tls.cert, &f.tls.key, &f.tls.ca);
  auto* secret =
      app.add_option("--cluster-secret-file", f.cluster_secret_file,
                     "authenticate peers without TLS: every node of the cluster reads the same "
                     "secret (32..4096 bytes, e.g. `openssl rand -hex 32`; the file must not be "
                     "readable by others); see docs/SECURITY.md")
          ->type_name("FILE");
  app.add_flag("--insecure-peers", f.insecure_peers,
               "run without peer authentication (neither TLS nor a secret): any local process "
               "can then speak for a node. A node with peers needs one of TLS, "
               "--cluster-secret-file or this flag")
      ->excludes(secret);
  auto* data = app.add_option("--data-dir", f.data_dir,
                              "keep the node's state in DIR (docs/STORAGE.md): every "
                              "acknowledged write survives a crash or restart. Without it: "
                              "memory only")
                   ->type_name("DIR");
  app.add_option("--initial-state", f.initial_state,
                 "when DIR holds no state yet: new for the first start of a new cluster; "
                 "existing for a node that replaces one whose data is lost (it catches up "
                 "from its peers before it serves). Without it such a DIR is refused; ignored "
                 "when DIR holds state")
      ->check(CLI::IsMember({"new", "existing"}))
      ->needs(data);
}

token::Result<token::ReplicationScheme> StandaloneScheme(const std::string& self,
                                                         std::uint64_t tokens) {
  std::vector<token::TokenEntry> entries;
  for (std::uint64_t i = 1; i <= tokens; ++i) {
    entries.push_back(token::TokenEntry{std::to_string(i), self, {self}, 0, 0, {}});
  }
  return token::ReplicationScheme::Create(std::move(entries));
}

}  // namespace

int main(int argc, char** argv) {
  // glibc keeps up to 7 freed blocks of each small size per thread (tcache) before they go
  // back to the shared bins under a lock; gRPC's per-call and per-message allocations churn
  // through more. With 64, against the same binary without (TOKENSERVER_DEFAULT_MALLOC=1),
  // 64 clients, 3 nodes in /dev/shm (bench/cluster_bench.sh ... shm, alternate rounds):
  // 12,451 against 11,880 ops/s, 116 against 124 us of server CPU per operation (3 rounds;
  // a wrapper setting it gave 12,255 against 11,570 in 5 more). At 1 client no gain: p50
  // 0.327 / 0.362 against 0.311 / 0.352 ms (5 rounds, within the machine's drift). A held
  // call still costs 15.7 KB, and an idle node keeps 1.5 MB more (bench/held_calls.sh).
  // glibc reads it only at a process's start: tokenserver starts itself again with it
  // (TOKENSERVER_DEFAULT_MALLOC=1 keeps glibc's defaults; a GLIBC_TUNABLES naming it wins).
  constexpr const char* kMallocTunables[] = {"glibc.malloc.tcache_count=64"};
  tokenapp::cli::RunWithTunables(argv, "TOKENSERVER_DEFAULT_MALLOC", kMallocTunables);
  // Debian builds Abseil without NDEBUG, so every absl::Mutex lock in gRPC also updated a
  // global lock-order graph under a global lock (deadlock detection): about 4% of a
  // node's CPU in perf profiles (GraphCycles::GetId and its callers). Switched off before
  // any thread takes a lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app;
  Flags f;
  Define(app, f);
  if (auto code = tokenapp::cli::Parse(app, argc, argv)) return *code;

  std::string listen = f.listen;
  if (f.port != 0) listen = fmt::format("127.0.0.1:{}", f.port);
  if (listen.empty()) return Fail(2, "--listen IP:PORT (or -port PORT) is required");
  const std::string self = f.node.empty() ? listen : f.node;

  token::net::NodeServerOptions options;
  if (!f.config.empty()) {
    auto scheme = token::LoadSchemeFile(f.config);
    if (!scheme.ok()) return Fail(2, scheme.status().message());
    options.scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  } else {
    auto scheme = StandaloneScheme(self, f.tokens);
    if (!scheme.ok()) return Fail(2, scheme.status().message());
    options.scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  }
  options.self = self;
  options.listen = listen;
  options.compute_workers = static_cast<int>(f.workers);
  options.inline_argmin_points = f.inline_argmin_points;
  options.inline_commit_below = std::chrono::microseconds(f.inline_commit_us);
  options.callback_threads = static_cast<int>(f.callback_threads);
  options.op_timeout = std::chrono::milliseconds(f.op_timeout_ms);
  options.max_held_calls = f.max_held_calls;
  options.max_domain = f.max_domain;
  options.max_calls_per_token = f.max_calls_per_token;
  options.fast_read = !f.no_fast_read;
  options.log_requests = !f.quiet;
  options.tls = f.tls;
  if (!f.cluster_secret_file.empty()) {
    auto secret = token::net::LoadClusterSecret(f.cluster_secret_file);
    if (!secret.ok()) return Fail(2, secret.status().message());
    options.cluster_secret = std::move(secret).value();
  }
  options.insecure_peers = f.insecure_peers;
  options.peer_sockets = f.peer_transport == "socket";
  options.data_dir = f.data_dir;
  options.metrics_listen = f.metrics_listen;
  if (f.initial_state == "new") options.initial_state = token::StartMode::kNew;
  if (f.initial_state == "existing") options.initial_state = token::StartMode::kReplacement;

  // Signals are taken by sigwait below, never by a gRPC or executor thread. SIGUSR1 is the
  // server's own: its storage failed.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  options.on_fatal = [](const token::Status&) { kill(getpid(), SIGUSR1); };

  auto server = token::net::NodeServer::Start(std::move(options));
  if (!server.ok()) {
    const bool bad_input = server.status().code() == token::StatusCode::kInvalidArgument;
    return Fail(bad_input ? 2 : 1, server.status().message());
  }
  int signal = 0;
  sigwait(&signals, &signal);
  if (signal == SIGUSR1) {
    std::fprintf(stderr, "tokenserver: storage failed (see above), stopping\n");
    server.value()->Shutdown();
    return 1;
  }
  std::fprintf(stderr, "tokenserver: %s received, stopping\n",
               signal == SIGINT ? "SIGINT" : "SIGTERM");
  server.value()->Shutdown();
  return 0;
}
