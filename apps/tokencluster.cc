// tokencluster: a local cluster in one command.
//
//   tokencluster --config FILE [--log-dir DIR] [-- COMMAND ARGS...]
//
// Starts one tokenserver per node the scheme names (each node must be a local address),
// waits until every node reports SERVING on the gRPC health check, then either runs COMMAND
// and stops the cluster when it ends (exit: the command's), or serves until SIGINT/SIGTERM.
// Stops every node on the way out (SIGTERM, SIGKILL after 5 s); a node that dies early
// stops the cluster with its log's last lines.
#include <signal.h>
#include <sys/wait.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/scheme_yaml.h"
#include "harness/flags.h"
#include "harness/process.h"
#include "net_grpc/health.h"

namespace {

constexpr const char* kUsage = R"(usage: tokencluster --config FILE [flags] [-- COMMAND ARGS...]
  --config FILE          the replication scheme; one tokenserver per node it names
  --log-dir DIR          node logs DIR/<ip>_<port>.log (default: tokencluster-logs)
  --server-bin PATH      the tokenserver binary (default: beside tokencluster)
  --ready-timeout-ms MS  how long nodes may take to become healthy (default 10000)
  --quiet                nodes do not log each request
  --server-arg ARG       pass ARG to every tokenserver (repeatable)
With COMMAND: run it once the cluster is up, stop the cluster after it, exit with its code.
Without: serve until SIGINT or SIGTERM.
)";

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

}  // namespace

int main(int argc, char** argv) {
  auto parsed = tokenapp::Flags::Parse(argc, argv, 1,
                                       {{"config"},
                                        {"log-dir"},
                                        {"server-bin"},
                                        {"ready-timeout-ms"},
                                        {"quiet", false},
                                        {"server-arg"},
                                        {"help", false},
                                        {"h", false}});
  if (!parsed.ok()) return Fail(2, parsed.status().message());
  const tokenapp::Flags& flags = parsed.value();
  if (flags.Has("help") || flags.Has("h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto config = flags.Get("config");
  if (!config) return Fail(2, "--config FILE is required");
  auto scheme = token::LoadSchemeFile(*config);
  if (!scheme.ok()) return Fail(2, scheme.status().message());
  auto ready_ms = flags.Number("ready-timeout-ms", 10'000);
  if (!ready_ms.ok()) return Fail(2, ready_ms.status().message());
  const std::string server_bin =
      flags.GetOr("server-bin", tokenapp::SelfDirectory() + "/tokenserver");
  const std::string log_dir = flags.GetOr("log-dir", "tokencluster-logs");
  std::error_code mkdir_error;
  std::filesystem::create_directories(log_dir, mkdir_error);
  if (mkdir_error) {
    return Fail(
        2, fmt::format("cannot create the log directory {}: {}", log_dir, mkdir_error.message()));
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  struct NodeProcess {
    std::string address;
    std::string log;
    tokenapp::ChildProcess process;
  };
  std::vector<NodeProcess> nodes;
  for (const std::string& address : scheme.value().nodes()) {
    std::string file = address;
    for (char& c : file) {
      if (c == ':' || c == '[' || c == ']') c = '_';
    }
    NodeProcess n{address, fmt::format("{}/{}.log", log_dir, file), {}};
    std::vector<std::string> args = {server_bin, "--config", *config, "--listen", address};
    if (flags.Has("quiet")) args.push_back("--quiet");
    for (const std::string& a : flags.All("server-arg")) args.push_back(a);
    auto p = tokenapp::ChildProcess::Start(args, n.log);
    if (!p.ok()) return Fail(2, p.status().message());
    n.process = std::move(p).value();
    nodes.push_back(std::move(n));
  }
  for (NodeProcess& n : nodes) {
    auto s = token::net::WaitUntilServing(n.address, std::chrono::milliseconds(ready_ms.value()));
    if (!s.ok()) {
      std::string logs;
      for (NodeProcess& m : nodes) {
        if (!m.process.running())
          logs += fmt::format("  {} exited; {}:\n{}", m.address, m.log, Tail(m.log, 5));
      }
      return Fail(1, fmt::format("{}\n{}", s.message(), logs));
    }
  }
  std::printf("tokencluster: %zu nodes serving (%s); logs in %s\n", nodes.size(),
              fmt::format("{}", fmt::join(scheme.value().nodes(), ", ")).c_str(), log_dir.c_str());
  std::fflush(stdout);

  int exit_code = 0;
  if (!flags.positional().empty()) {
    std::vector<std::string> command = flags.positional();
    if (command[0].find('/') == std::string::npos) {
      const std::string sibling = tokenapp::SelfDirectory() + "/" + command[0];
      if (access(sibling.c_str(), X_OK) == 0) command[0] = sibling;
    }
    auto p = tokenapp::ChildProcess::Start(command, "");
    if (!p.ok()) {
      exit_code = Fail(2, p.status().message());
    } else {
      // Waits for the command, a signal, or a node's early death.
      tokenapp::ChildProcess child = std::move(p).value();
      for (;;) {
        if (auto status = child.WaitFor(std::chrono::milliseconds(50))) {
          exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status) : 1;
          break;
        }
        timespec zero{0, 0};
        const int sig = sigtimedwait(&signals, nullptr, &zero);
        if (sig == SIGINT || sig == SIGTERM) {
          child.Stop();
          exit_code = 130;
          break;
        }
      }
    }
  } else {
    for (;;) {
      const int sig = sigwaitinfo(&signals, nullptr);
      if (sig == SIGINT || sig == SIGTERM) break;
      bool died = false;
      for (NodeProcess& n : nodes) {
        if (!n.process.running()) {
          std::fprintf(stderr, "tokencluster: node %s exited; last lines of %s:\n%s",
                       n.address.c_str(), n.log.c_str(), Tail(n.log, 5).c_str());
          died = true;
        }
      }
      if (died) {
        exit_code = 1;
        break;
      }
    }
  }
  for (NodeProcess& n : nodes) n.process.Stop();
  std::printf("tokencluster: stopped %zu nodes\n", nodes.size());
  return exit_code;
}
