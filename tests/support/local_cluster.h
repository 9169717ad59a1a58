// LocalCluster: real tokenserver processes on loopback for end-to-end tests.
//
// Writes the scheme (with this test's ports) into a fresh temp directory, starts one
// tokenserver per node with its log in that directory (peers authenticated by a throwaway
// cluster secret unless the flags say otherwise), and waits on the gRPC health check
// (bounded). The destructor stops every node it started (SIGTERM, SIGKILL after 5 s).
// Durable clusters give each node a data directory; Restart and Replace kill a node with
// SIGKILL and start it again from its data or without it.
// Run() executes a tool with a bounded time and captures its stdout, stderr and exit code.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "harness/process.h"
#include "net_grpc/health.h"
#include "net_grpc/peer_auth.h"

namespace token::testing {

struct ToolRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class LocalCluster {
 public:
  // `yaml` names nodes as NODE0, NODE1, ...; they become 127.0.0.1:<free port>.
  // `prepare` runs in the fresh directory before any node starts (to write certificates);
  // `tls` is what the health check uses to reach the nodes.
  LocalCluster(std::string yaml, int nodes, std::vector<std::string> server_flags = {},
               const std::function<void(const std::string& dir)>& prepare = {},
               const net::TlsFiles& tls = {}, bool durable = false)
      : durable_(durable) {
    char dir_template[] = "/tmp/token-e2e-XXXXXX";
    dir_ = mkdtemp(dir_template);
    if (prepare) prepare(dir_);
    for (std::string& f : server_flags) f = WithDir(f);
    // Peers authenticate by a throwaway secret unless the flags choose otherwise.
    bool chosen = false;
    for (const std::string& f : server_flags) {
      chosen =
          chosen || f == "--insecure-peers" || f == "--cluster-secret-file" || f == "--tls-cert";
    }
    if (!chosen) {
      secret_file_ = dir_ + "/cluster-secret";
      const Status s = net::WriteNewClusterSecret(secret_file_);
      EXPECT_TRUE(s.ok()) << s.message();
      server_flags.insert(server_flags.end(), {"--cluster-secret-file", secret_file_});
    }
    server_flags_ = std::move(server_flags);
    probe_tls_ = net::TlsFiles{WithDir(tls.cert), WithDir(tls.key), WithDir(tls.ca)};
    // Ports from the pid, below the ephemeral range, so concurrent test processes and
    // outgoing connections do not collide with them.
    const int base = 20000 + (getpid() % 700) * 16 + (counter_++ % 4) * 4;
    for (int i = 0; i < nodes; ++i) addresses_.push_back(fmt::format("127.0.0.1:{}", base + i));
    for (int i = nodes - 1; i >= 0; --i) {
      const std::string key = fmt::format("NODE{}", i);
      for (auto p = yaml.find(key); p != std::string::npos; p = yaml.find(key)) {
        yaml.replace(p, key.size(), addresses_[static_cast<std::size_t>(i)]);
      }
    }
    config_ = dir_ + "/cluster.yaml";
    std::ofstream(config_) << yaml;
    for (int i = 0; i < nodes; ++i) StartNode(i, durable_ ? "new" : "");
    for (int i = 0; i < nodes; ++i) WaitServing(i);
  }

  // With durable nodes: SIGKILL node i and start it again from its data directory.
  void Restart(int i) {
    process(i).Kill();
    StartNode(i, "");
    WaitServing(i);
  }
  // With durable nodes: SIGKILL node i, delete its data, start it as a replacement.
  void Replace(int i) {
    process(i).Kill();
    std::error_code ignored;
    std::filesystem::remove_all(DataDirOf(i), ignored);
    StartNode(i, "existing");
    WaitServing(i);
  }
  std::string DataDirOf(int i) const { return LogOf(node(i)) + ".data"; }

  ~LocalCluster() {
    for (auto& [a, p] : processes_) p.Stop();
    if (!::testing::Test::HasFailure()) {
      std::error_code ignored;
      if (std::getenv("TOKEN_KEEP_TEST_DIRS") == nullptr)
        std::filesystem::remove_all(dir_, ignored);
    } else {
      std::fprintf(stderr, "cluster logs kept in %s\n", dir_.c_str());
    }
  }

  // `text` with "$DIR" replaced by this cluster's directory.
  std::string WithDir(std::string text) const {
    for (auto p = text.find("$DIR"); p != std::string::npos; p = text.find("$DIR", p)) {
      text.replace(p, 4, dir_);
    }
    return text;
  }

  static std::string Bin(const std::string& name) {
    return std::string(TOKEN_APPS_DIR) + "/" + name;
  }
  const std::string& config() const { return config_; }
  // The throwaway cluster secret's file ("" when the flags chose TLS or no authentication).
  const std::string& secret_file() const { return secret_file_; }
  const std::string& dir() const { return dir_; }
  const std::string& node(int i) const { return addresses_[static_cast<std::size_t>(i)]; }
  // Starts node i (`initial_state` for an empty data directory: "new", "existing", "").
  void StartNode(int i, const std::string& initial_state) {
    const std::string& a = node(i);
    std::vector<std::string> args = {Bin("tokenserver"), "--config", config_, "--listen", a};
    if (durable_) {
      args.insert(args.end(), {"--data-dir", DataDirOf(i)});
      if (!initial_state.empty()) args.insert(args.end(), {"--initial-state", initial_state});
    }
    for (const auto& f : server_flags_) args.push_back(f);
    auto p = tokenapp::ChildProcess::Start(args, LogOf(a));
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.status().message());
    if (p.ok()) processes_[a] = std::move(p).value();
  }
  void WaitServing(int i) {
    const Status s = net::WaitUntilServing(node(i), std::chrono::seconds(15), probe_tls_);
    EXPECT_TRUE(s.ok()) << s.message() << "\n" << ReadText(LogOf(node(i)));
  }
  std::string LogOf(const std::string& address) const {
    std::string f = address;
    for (char& c : f) {
      if (c == ':') c = '_';
    }
    return dir_ + "/" + f + ".log";
  }
  tokenapp::ChildProcess& process(int i) { return processes_[node(i)]; }

  // Runs a tool from the build (bounded by `limit_s` seconds) and captures its output.
  ToolRun Run(const std::string& tool, const std::vector<std::string>& args,
              int limit_s = 60) const {
    const std::string out = dir_ + "/tool.out";
    const std::string err = dir_ + "/tool.err";
    std::string command = fmt::format("timeout -k 5 {} '{}'", limit_s, Bin(tool));
    for (const std::string& a : args) command += " '" + a + "'";
    command += fmt::format(" > '{}' 2> '{}' < /dev/null", out, err);
    const int status = std::system(command.c_str());
    ToolRun r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadText(out);
    r.err = ReadText(err);
    return r;
  }

 private:
  static inline int counter_ = 0;
  bool durable_ = false;
  std::vector<std::string> server_flags_;
  net::TlsFiles probe_tls_;
  std::string dir_;
  std::string config_;
  std::string secret_file_;
  std::vector<std::string> addresses_;
  std::map<std::string, tokenapp::ChildProcess> processes_;
};

}  // namespace token::testing
