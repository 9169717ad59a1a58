// tokenload's load (apps/tokenload.cc): closed-loop clients over gRPC, each with one
// operation outstanding, recording the history as they go, and the crashes on a schedule.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "checker/history_writer.h"
#include "core/scheme.h"
#include "proto/etcd_kv.grpc.pb.h"
#include "proto/token.grpc.pb.h"

namespace tokenload {

namespace pb = tokenmgr::v1;
using Clock = std::chrono::steady_clock;

struct Crash {
  std::string node;
  std::string token;
  std::int64_t at_ms = 0;
  std::string outcome = "not reached";
  std::int64_t done_ns = -1;  // history clock: when the node confirmed the crash
};

struct OpStats {
  std::uint64_t ok = 0, fail = 0, info = 0;
  std::vector<std::int64_t> latency_ns;  // ok operations
};

class Load {
 public:
  struct Options {
    std::shared_ptr<const token::ReplicationScheme> scheme;  // token cluster
    std::vector<std::string> etcd;                           // or etcd endpoints
    std::vector<std::string> tokens;
    int clients = 16;
    std::int64_t ops = 10000;
    double read_ratio = 0.5;
    std::chrono::milliseconds timeout{2000};
    std::uint64_t domain = 16;
    int channels = 2;
    std::uint64_t seed = 0;
    std::vector<Crash> crashes;
    bool final_reads = false;
    bool quiet = false;
  };

  // Defined where Client is complete (tokenload_load.cc).
  explicit Load(Options o);
  ~Load();

  // Reads what each token holds first (RecordInitialValues), then runs the load.
  void Run();
  std::string History() const {
    std::lock_guard lock(mu_);
    return history_;
  }
  const std::map<std::string, OpStats>& stats() const { return stats_; }
  double seconds() const { return seconds_; }
  const std::vector<Crash>& crashes() const { return o_.crashes; }
  std::uint64_t processes() const { return next_process_.load(); }

 private:
  struct Client;
  struct Stubs {
    std::vector<std::unique_ptr<pb::TokenManager::Stub>> tokens;
    std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> etcd;
  };

  std::int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count();
  }
  // Appends `line` with the time of now, or `at` when given (taken earlier, before any
  // later line); returns that time.
  std::int64_t Record(checker::HistoryLine line, std::optional<std::int64_t> at = {}) {
    std::lock_guard lock(mu_);
    line.time_ns = at ? *at : Now();
    checker::AppendHistoryLine(history_, line);
    return *line.time_ns;
  }
  void Completed(const std::string& f, const std::string& type, std::int64_t latency_ns) {
    std::lock_guard lock(mu_);
    OpStats& s = stats_[f];
    if (type == "ok") {
      ++s.ok;
      s.latency_ns.push_back(latency_ns);
    } else if (type == "fail") {
      ++s.fail;
    } else {
      ++s.info;
    }
  }
  void ClientDone() {
    std::lock_guard lock(mu_);
    ++clients_done_;
    cv_.notify_all();
  }
  // Each loaded token's value before the load (a cluster or etcd may hold values from an
  // earlier run: data, or a created or dropped token), recorded as a write of it by a
  // process of its own that ends before the load starts: the load's reads of it are then
  // reads of a written value. This load's names get a run tag ("r<ms since 1970, base
  // 36>-") that no value found starts with, so its writes never write a value already
  // there. A token no reader (no etcd endpoint) answers for within 2 s (or the load's
  // timeout, if shorter) gets a warning on stderr and nothing in the history.
  void RecordInitialValues();
  // A written domain `name` as the history records it (the load's low, mid and high).
  checker::LineValue Value(std::string_view name) const;
  // What a read's reply holds; a data value's name points into `reply`.
  checker::LineValue ReplyValue(const pb::TokenReply& reply) const;
  void RunCrashes();
  void FinalReads();
  grpc::Status SyncRead(const std::string& node, const std::string& token, pb::TokenReply* reply,
                        std::chrono::milliseconds timeout);

  Options o_;
  std::map<std::string, Stubs> stubs_;  // by node / endpoint
  std::atomic<std::int64_t> ops_left_;
  std::atomic<std::uint64_t> next_process_{0};
  Clock::time_point start_;       // the history's clock starts here
  Clock::time_point load_start_;  // the clients start here (--crash times count from it)
  std::string name_prefix_;       // RecordInitialValues' run tag
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int clients_done_ = 0;
  bool load_over_ = false;
  std::string history_;  // JSON Lines (docs/FORMATS.md)
  std::map<std::string, OpStats> stats_;
  double seconds_ = 0;
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace tokenload
