// tokencluster: a local cluster in one command.
//
//   tokencluster --config FILE [--log-dir DIR] [--data-dir DIR [--fresh]]
//                [--nemesis SPEC ...] [-- COMMAND ARGS...]       (tokencluster --help)
//
// Starts one tokenserver per node the scheme names (each node must be a local address),
// waits until every node reports SERVING on the gRPC health check, then either runs COMMAND
// and stops the cluster when it ends (exit: the command's), or serves until SIGINT/SIGTERM.
// With --data-dir each node keeps its state in DIR/<ip>_<port>, kept between runs. While
// COMMAND runs, --nemesis kills and restarts nodes on a schedule (harness/nemesis.h).
// Stops every node on the way out (SIGTERM, SIGKILL after 5 s); a node that dies when the
// nemesis did not kill it stops the cluster with its log's last lines.
#include <signal.h>
#include <sys/wait.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "checker/json_escape.h"
#include "core/scheme_yaml.h"
#include "harness/cli.h"
#include "harness/nemesis.h"
#include "harness/process.h"
#include "net_grpc/health.h"
#include "net_grpc/peer_auth.h"

namespace {

struct Flags {
  std::string config, log_dir = "tokencluster-logs", data_dir, server_bin;
  bool fresh = false, quiet = false, json = false;
  std::vector<std::string> nemesis, server_args, command;
  std::uint64_t ready_timeout_ms = 10'000;
};

void Define(CLI::App& app, Flags& f) {
  tokenapp::cli::Configure(
      app, "tokencluster",
      "A local cluster in one command: one tokenserver per node of the scheme, health-checked. "
      "With COMMAND (after --; found beside tokencluster or on PATH) run it once the cluster "
      "is up and stop the cluster after it; without, serve until SIGINT or SIGTERM. A node "
      "whose data directory is empty starts as a new node when every node's is (a new "
      "cluster), as a replacement otherwise (tokenserver --initial-state existing). Peers "
      "authenticate each other by a throwaway secret written to LOG-DIR/cluster-secret (mode "
      "0600, new for each run), unless --server-arg gives --cluster-secret-file, --tls-* or "
      "--insecure-peers. Each node that answers must be the tokenserver this command started "
      "(checked by its process id): otherwise tokencluster stops, naming the node and its "
      "log.",
      "0 stopped by SIGINT/SIGTERM (with COMMAND: the command's exit code "
      "instead), 1 a node failed to start or died unexpectedly, 2 bad usage");
  app.add_option("--config", f.config, "the replication scheme; one tokenserver per node")
      ->type_name("FILE")
      ->required();
  app.add_option("--log-dir", f.log_dir, "node logs DIR/<ip>_<port>.log")
      ->type_name("DIR")
      ->capture_default_str();
  auto* data = app.add_option("--data-dir", f.data_dir,
                              "each node keeps its state in DIR/<ip>_<port> (kept between "
                              "runs; without it nodes keep state in memory only)")
                   ->type_name("DIR");
  app.add_flag("--fresh", f.fresh, "delete the nodes' data first (a new cluster)")->needs(data);
  app.add_option("--nemesis", f.nemesis,
                 "while COMMAND runs (times in ms from its start; repeatable): kill:NODE@T "
                 "(SIGKILL, it stays down), restart:NODE@T+DOWN (start again DOWN ms later), "
                 "wipe:NODE@T+DOWN (its data deleted: it comes back as a replacement), "
                 "rolling@T+DOWN/GAP (restart every node in turn); restart, wipe and rolling "
                 "need --data-dir")
      ->type_name("SPEC")
      ->take_all()
      ->allow_extra_args(false);
  app.add_option("--server-bin", f.server_bin,
                 "the tokenserver binary (default: beside "
                 "tokencluster)")
      ->type_name("PATH");
  tokenapp::cli::AddNumber(app, "--ready-timeout-ms", &f.ready_timeout_ms, 1, 600'000,
                           "how long nodes may take to become healthy");
  app.add_flag("--quiet", f.quiet, "nodes do not log each request");
  tokenapp::cli::AddJson(app, &f.json)
      ->description(
          "print its own events (serving, nemesis actions, stopped) as one JSON "
          "object per line");
  app.add_option("--server-arg", f.server_args,
                 "pass ARG to every tokenserver (repeatable; one that starts with a dash as "
                 "--server-arg=--no-fast-read)")
      ->type_name("ARG")
      ->take_all()
      ->allow_extra_args(false);
  app.add_option("command", f.command, "the command to run (after --)")->type_name("COMMAND");
}

std::string Tail(const std::string& path, std::size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += "    " + all[i] + "\n";
  }
  return out;
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "tokencluster: %s\n", message.c_str());
  return code;
}

struct NodeProcess {
  std::string address;
  std::string log;
  std::string data;  // "" without --data-dir
  tokenapp::ChildProcess process;
  bool expected_down = false;  // the nemesis killed it
};

// The cluster's processes and how to start one of them.
class Cluster {
 public:
  Cluster(const Flags& flags, std::string server_bin, std::vector<std::string> server_args)
      : flags_(flags), server_bin_(std::move(server_bin)), server_args_(std::move(server_args)) {}

  std::vector<NodeProcess>& nodes() { return nodes_; }

  token::Status Add(const std::string& address, const std::string& log_dir,
                    const std::string& data_dir) {
    std::string file = address;
    for (char& c : file) {
      if (c == ':' || c == '[' || c == ']') c = '_';
    }
    nodes_.push_back(NodeProcess{address,
                                 fmt::format("{}/{}.log", log_dir, file),
                                 data_dir.empty() ? "" : fmt::format("{}/{}", data_dir, file),
                                 {},
                                 false});
    return token::Status::Ok();
  }

  // Starts node i; `initial_state` ("new", "existing" or "") for an empty data directory.
  token::Status Start(std::size_t i, const std::string& initial_state) {
    NodeProcess& n = nodes_[i];
    std::vector<std::string> args = {server_bin_, "--config", flags_.config, "--listen", n.address};
    if (!n.data.empty()) {
      args.insert(args.end(), {"--data-dir", n.data});
      if (!initial_state.empty()) args.insert(args.end(), {"--initial-state", initial_state});
    }
    if (flags_.quiet) args.push_back("--quiet");
    for (const std::string& a : server_args_) args.push_back(a);
    auto p = tokenapp::ChildProcess::Start(args, n.log);
    if (!p.ok()) return p.status();
    n.process = std::move(p).value();
    n.expected_down = false;
    return token::Status::Ok();
  }

  // The initial state a node with an empty data directory takes at the cluster's start.
  std::string InitialState() const {
    bool any_data = false;
    for (const NodeProcess& n : nodes_) any_data = any_data || HasData(n);
    return any_data ? "existing" : "new";
  }
  static bool HasData(const NodeProcess& n) {
    std::error_code ec;
    return !n.data.empty() && std::filesystem::exists(n.data, ec) &&
           !std::filesystem::is_empty(n.data, ec);
  }

  // Waits until node i serves, and checks that what answers at its address is the process
  // this command started (not another server holding the port while ours failed to bind).
  token::Status WaitServing(std::size_t i, std::chrono::milliseconds limit) {
    NodeProcess& n = nodes_[i];
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (!n.process.running()) {
        return token::Status::Unavailable(
            fmt::format("node {}: its tokenserver exited before serving; last lines of {}:\n{}",
                        n.address, n.log, Tail(n.log, 5)));
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      const token::Status s = token::net::WaitUntilServing(
          n.address,
          std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(200)));
      if (s.ok()) break;
      if (std::chrono::steady_clock::now() >= end) {
        return token::Status::Unavailable(fmt::format(
            "node {}: {}; last lines of {}:\n{}", n.address, s.message(), n.log, Tail(n.log, 5)));
      }
    }
    auto pid = token::net::ServingPid(n.address, std::chrono::milliseconds(2000));
    const auto ours = static_cast<std::uint64_t>(n.process.pid());
    if (!pid.ok() || pid.value() != ours) {
      return token::Status::FailedPrecondition(fmt::format(
          "node {}: the server answering there is not the tokenserver this command started "
          "(pid {}): {}; another process holds the address? last lines of {}:\n{}",
          n.address, ours,
          pid.ok() ? fmt::format("it reports pid {}", pid.value()) : pid.status().message(), n.log,
          Tail(n.log, 5)));
    }
    return token::Status::Ok();
  }

  // Runs one nemesis action now.
  token::Status Act(const tokenapp::NemesisAction& a, std::chrono::milliseconds ready) {
    NodeProcess& n = nodes_[a.node];
    const std::string action(tokenapp::NemesisActionName(a.kind));
    if (flags_.json) {
      std::printf("{\"event\":\"nemesis\",\"action\":%s,\"node\":%s}\n",
                  checker::JsonQuote(action).c_str(), checker::JsonQuote(n.address).c_str());
    } else {
      std::printf("tokencluster: nemesis: %s %s\n", action.c_str(), n.address.c_str());
    }
    std::fflush(stdout);
    switch (a.kind) {
      case tokenapp::NemesisAction::Kind::kKill:
        n.expected_down = true;
        n.process.Kill();
        return token::Status::Ok();
      case tokenapp::NemesisAction::Kind::kWipe: {
        std::error_code ec;
        std::filesystem::remove_all(n.data, ec);
        if (ec) {
          return token::Status::Internal(fmt::format("cannot delete {}: {}", n.data, ec.message()));
        }
        return token::Status::Ok();
      }
      case tokenapp::NemesisAction::Kind::kStart: {
        if (auto s = Start(a.node, HasData(n) ? "" : "existing"); !s.ok()) return s;
        return WaitServing(a.node, ready);
      }
    }
    return token::Status::Ok();
  }

  // A node that died though the nemesis did not kill it, with its log's last lines.
  std::string UnexpectedDeaths() {
    std::string out;
    for (NodeProcess& n : nodes_) {
      if (!n.expected_down && !n.process.running()) {
        out +=
            fmt::format("node {} exited; last lines of {}:\n{}", n.address, n.log, Tail(n.log, 5));
      }
    }
    return out;
  }

  void StopAll() {
    for (NodeProcess& n : nodes_) n.process.Stop();
  }

 private:
  const Flags& flags_;
  std::string server_bin_;
  std::vector<std::string> server_args_;
  std::vector<NodeProcess> nodes_;
};

// Runs `command` while the nemesis acts; returns the exit code for tokencluster.
int RunCommand(Cluster& cluster, std::vector<std::string> command,
               const std::vector<tokenapp::NemesisAction>& nemesis, sigset_t& signals,
               std::chrono::milliseconds ready) {
  auto program = tokenapp::FindProgram(command[0]);
  if (!program.ok()) return Fail(2, program.status().message());
  command[0] = program.value();
  auto p = tokenapp::ChildProcess::Start(command, "");
  if (!p.ok()) return Fail(2, p.status().message());
  tokenapp::ChildProcess child = std::move(p).value();
  const auto start = std::chrono::steady_clock::now();
  std::size_t next = 0;
  // Waits for the command, a signal, or a node's unexpected death; acts when due.
  for (;;) {
    if (auto status = child.WaitFor(std::chrono::milliseconds(10))) {
      return WIFEXITED(*status) ? WEXITSTATUS(*status) : 1;
    }
    const auto elapsed_ms =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - start)
                                       .count());
    for (; next < nemesis.size() && nemesis[next].at_ms <= elapsed_ms; ++next) {
      if (auto s = cluster.Act(nemesis[next], ready); !s.ok()) {
        child.Stop();
        return Fail(1, fmt::format("nemesis: {}", s.message()));
      }
    }
    if (const std::string dead = cluster.UnexpectedDeaths(); !dead.empty()) {
      child.Stop();
      return Fail(1, dead);
    }
    timespec zero{0, 0};
    const int sig = sigtimedwait(&signals, nullptr, &zero);
    if (sig == SIGINT || sig == SIGTERM) {
      child.Stop();
      return 130;
    }
  }
}

int Serve(Cluster& cluster, sigset_t& signals) {
  for (;;) {
    const int sig = sigwaitinfo(&signals, nullptr);
    if (sig == SIGINT || sig == SIGTERM) return 0;
    if (const std::string dead = cluster.UnexpectedDeaths(); !dead.empty()) {
      return Fail(1, dead);
    }
  }
}

token::Status PrepareDirectory(const std::string& dir, const char* what, bool wipe) {
  std::error_code ec;
  if (wipe) std::filesystem::remove_all(dir, ec);
  if (!ec) std::filesystem::create_directories(dir, ec);
  if (ec) {
    return token::Status::InvalidArgument(
        fmt::format("cannot prepare the {} directory {}: {}", what, dir, ec.message()));
  }
  return token::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app;
  Flags f;
  Define(app, f);
  if (auto code = tokenapp::cli::Parse(app, argc, argv)) return *code;
  auto scheme = token::LoadSchemeFile(f.config);
  if (!scheme.ok()) return Fail(2, scheme.status().message());
  const auto ready = std::chrono::milliseconds(f.ready_timeout_ms);
  auto nemesis = tokenapp::ParseNemesis(f.nemesis, scheme.value());
  if (!nemesis.ok()) return Fail(2, nemesis.status().message());
  const std::string& data_dir = f.data_dir;
  for (const auto& a : nemesis.value()) {
    if (a.kind != tokenapp::NemesisAction::Kind::kKill && data_dir.empty()) {
      return Fail(2,
                  "--nemesis restart, wipe and rolling need --data-dir: a node restarted "
                  "without its data would lose every acknowledged write it held");
    }
  }
  if (!nemesis.value().empty() && f.command.empty()) {
    return Fail(2, "--nemesis acts while a COMMAND runs: give one after --");
  }
  const std::string& log_dir = f.log_dir;
  if (auto s = PrepareDirectory(log_dir, "log", false); !s.ok()) return Fail(2, s.message());
  if (!data_dir.empty()) {
    if (auto s = PrepareDirectory(data_dir, "data", f.fresh); !s.ok()) {
      return Fail(2, s.message());
    }
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Peers authenticate by a throwaway secret, fresh for each run, unless the server
  // arguments choose for themselves (TLS, a secret of their own, or --insecure-peers).
  std::vector<std::string> server_args = f.server_args;
  bool chosen = false;
  for (const std::string& a : server_args) {
    for (const char* name : {"cluster-secret-file", "insecure-peers", "tls-cert"}) {
      chosen = chosen || a.find(name) != std::string::npos;
    }
  }
  if (!chosen) {
    const std::string secret_file = log_dir + "/cluster-secret";
    std::error_code ignored;
    std::filesystem::remove(secret_file, ignored);
    if (auto s = token::net::WriteNewClusterSecret(secret_file); !s.ok()) {
      return Fail(2, s.message());
    }
    server_args.insert(server_args.end(), {"--cluster-secret-file", secret_file});
  }
  Cluster cluster(f,
                  f.server_bin.empty() ? tokenapp::SelfDirectory() + "/tokenserver" : f.server_bin,
                  std::move(server_args));
  for (const std::string& address : scheme.value().nodes()) {
    if (auto s = cluster.Add(address, log_dir, data_dir); !s.ok()) return Fail(2, s.message());
  }
  const std::string initial_state = cluster.InitialState();
  for (std::size_t i = 0; i < cluster.nodes().size(); ++i) {
    if (auto s = cluster.Start(i, initial_state); !s.ok()) return Fail(2, s.message());
  }
  for (std::size_t i = 0; i < cluster.nodes().size(); ++i) {
    if (auto s = cluster.WaitServing(i, ready); !s.ok()) {
      cluster.StopAll();
      return Fail(1, s.message());
    }
  }
  if (f.json) {
    std::vector<std::string> quoted;
    for (const std::string& n : scheme.value().nodes()) quoted.push_back(checker::JsonQuote(n));
    std::printf("{\"event\":\"serving\",\"nodes\":[%s],\"log_dir\":%s,\"data_dir\":%s}\n",
                fmt::format("{}", fmt::join(quoted, ",")).c_str(),
                checker::JsonQuote(log_dir).c_str(), checker::JsonQuote(data_dir).c_str());
  } else {
    std::printf("tokencluster: %zu nodes serving (%s); logs in %s%s\n", cluster.nodes().size(),
                fmt::format("{}", fmt::join(scheme.value().nodes(), ", ")).c_str(), log_dir.c_str(),
                data_dir.empty() ? "" : fmt::format("; data in {}", data_dir).c_str());
  }
  std::fflush(stdout);

  const int exit_code = f.command.empty()
                            ? Serve(cluster, signals)
                            : RunCommand(cluster, f.command, nemesis.value(), signals, ready);
  cluster.StopAll();
  if (f.json) {
    std::printf("{\"event\":\"stopped\",\"nodes\":%zu,\"exit\":%d}\n", cluster.nodes().size(),
                exit_code);
  } else {
    std::printf("tokencluster: stopped %zu nodes\n", cluster.nodes().size());
  }
  return exit_code;
}
