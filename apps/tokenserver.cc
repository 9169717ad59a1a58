// tokenserver: one node of the replicated token manager, over gRPC.
//
//   tokenserver --config FILE --listen IP:PORT     a node of the scheme in FILE; its
//                                                   identity is its access point there
//   tokenserver -port 50051                        the original style: 127.0.0.1:50051,
//                                                   with --config FILE or, without one, as a
//                                                   single node owning tokens 1..--tokens
//
// Logs each client request with the token's state; stops cleanly on SIGINT or SIGTERM.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <pthread.h>

#include "core/scheme_yaml.h"
#include "harness/flags.h"
#include "net_grpc/node_server.h"
#include "net_grpc/peer_auth.h"

namespace {

constexpr const char* kUsage = R"(usage: tokenserver --config FILE --listen IP:PORT [options]
       tokenserver -port PORT [--config FILE | --tokens N] [options]
  --config FILE        the replication scheme (YAML, see docs/FORMATS.md)
  --listen IP:PORT     this node's access point as named in FILE (also where it binds)
  --node IP:PORT       this node's identity when it binds elsewhere (--listen 0.0.0.0:P)
  -port PORT           listen on 127.0.0.1:PORT (the original tokenserver's flag)
  --tokens N           without --config: one node owning tokens "1".."N" (default 100)
  --workers N          argmin worker threads (default 1)
  --op-timeout-ms MS   how long an operation waits for a quorum when the caller set no
                       deadline (default 5000); a caller's own deadline, longer or
                       shorter, is never changed by it
  --max-held-calls N   bound on calls held silently for crashed tokens (default 100000)
  --no-fast-read       always run the impose phase of reads
  --quiet              do not log each request
  --tls-cert F --tls-key F --tls-ca F   mutual TLS for clients and peers (all three)
  --cluster-secret-file F
                       authenticate peers without TLS: every node of the cluster reads
                       the same secret (32..4096 bytes, e.g. `openssl rand -hex 32`; the
                       file must not be readable by others); see docs/SECURITY.md
  --insecure-peers     run without peer authentication (neither TLS nor a secret): any
                       local process can then speak for a node. A node with peers needs
                       one of TLS, --cluster-secret-file or this flag
  --data-dir DIR       keep the node's state in DIR (docs/STORAGE.md): every acknowledged
                       write survives a crash or restart. Without it: memory only
  --initial-state new|existing
                       when DIR holds no state yet: new for the first start of a new
                       cluster; existing for a node that replaces one whose data is lost
                       (it catches up from its peers before it serves). Without it such a
                       DIR is refused; ignored when DIR holds state
exit: 0 after a clean stop, 2 on bad flags or config, 1 when it cannot serve (or its
storage failed: restart it, it recovers from DIR)
)";

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "tokenserver: %s\n", message.c_str());
  if (code == 2) std::fprintf(stderr, "(tokenserver --help for usage)\n");
  return code;
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
  auto parsed = tokenapp::Flags::Parse(argc, argv, 1,
                                       {{"config"},
                                        {"listen"},
                                        {"node"},
                                        {"port"},
                                        {"tokens"},
                                        {"workers"},
                                        {"op-timeout-ms"},
                                        {"max-held-calls"},
                                        {"no-fast-read", false},
                                        {"quiet", false},
                                        {"tls-cert"},
                                        {"tls-key"},
                                        {"tls-ca"},
                                        {"cluster-secret-file"},
                                        {"insecure-peers", false},
                                        {"data-dir"},
                                        {"initial-state"},
                                        {"help", false},
                                        {"h", false}});
  if (!parsed.ok()) return Fail(2, parsed.status().message());
  const tokenapp::Flags& flags = parsed.value();
  if (flags.Has("help") || flags.Has("h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!flags.positional().empty()) {
    return Fail(2, fmt::format("unexpected argument '{}'", flags.positional()[0]));
  }

  std::string listen = flags.GetOr("listen", "");
  if (flags.Has("port")) {
    auto port = flags.Number("port", 0);
    if (!port.ok()) return Fail(2, port.status().message());
    if (port.value() == 0 || port.value() > 65535) {
      return Fail(2, fmt::format("-port must be in 1..65535, got {}", port.value()));
    }
    if (!listen.empty()) return Fail(2, "give --listen or -port, not both");
    listen = fmt::format("127.0.0.1:{}", port.value());
  }
  if (listen.empty()) return Fail(2, "--listen IP:PORT (or -port PORT) is required");
  const std::string self = flags.GetOr("node", listen);

  token::net::NodeServerOptions options;
  if (auto config = flags.Get("config")) {
    if (flags.Has("tokens")) return Fail(2, "--tokens applies only without --config");
    auto scheme = token::LoadSchemeFile(*config);
    if (!scheme.ok()) return Fail(2, scheme.status().message());
    options.scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  } else {
    auto n = flags.Number("tokens", 100);
    if (!n.ok()) return Fail(2, n.status().message());
    if (n.value() == 0 || n.value() > 1'000'000) return Fail(2, "--tokens must be in 1..1000000");
    auto scheme = StandaloneScheme(self, n.value());
    if (!scheme.ok()) return Fail(2, scheme.status().message());
    options.scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  }
  options.self = self;
  options.listen = listen;
  auto workers = flags.Number("workers", 1);
  auto timeout = flags.Number("op-timeout-ms", 5000);
  auto held = flags.Number("max-held-calls", 100'000);
  for (const auto* r : {&workers, &timeout, &held}) {
    if (!r->ok()) return Fail(2, r->status().message());
  }
  if (workers.value() < 1 || workers.value() > 256) return Fail(2, "--workers must be in 1..256");
  if (timeout.value() < 1) return Fail(2, "--op-timeout-ms must be at least 1");
  options.compute_workers = static_cast<int>(workers.value());
  options.op_timeout = std::chrono::milliseconds(timeout.value());
  options.max_held_calls = held.value();
  options.fast_read = !flags.Has("no-fast-read");
  options.log_requests = !flags.Has("quiet");
  options.tls = token::net::TlsFiles{flags.GetOr("tls-cert", ""), flags.GetOr("tls-key", ""),
                                     flags.GetOr("tls-ca", "")};
  if (auto secret_file = flags.Get("cluster-secret-file")) {
    auto secret = token::net::LoadClusterSecret(*secret_file);
    if (!secret.ok()) return Fail(2, secret.status().message());
    options.cluster_secret = std::move(secret).value();
  }
  options.insecure_peers = flags.Has("insecure-peers");

  options.data_dir = flags.GetOr("data-dir", "");
  if (auto state = flags.Get("initial-state")) {
    if (options.data_dir.empty()) return Fail(2, "--initial-state applies only with --data-dir");
    if (*state == "new") {
      options.initial_state = token::StartMode::kNew;
    } else if (*state == "existing") {
      options.initial_state = token::StartMode::kReplacement;
    } else {
      return Fail(2, fmt::format("--initial-state: '{}' (expected new or existing)", *state));
    }
  }

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
