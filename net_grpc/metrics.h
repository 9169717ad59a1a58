// A node's metrics in the Prometheus text format (version 0.0.4), and an optional HTTP
// endpoint serving them (tokenserver --metrics-listen HOST:PORT, cpp-httplib).
//
// Metrics counts what the node's threads report (client operations by type and outcome
// with their latency, storage commits with theirs) in atomics; the rest (held calls,
// crashed tokens, peer links, dropped messages) is read from the node when a scrape asks
// (NodeGauges, filled on the executor thread). `tokenclient status --json` shows the same
// text, parsed (StatusReply.metrics).
//
// Thread-safety: Metrics' methods may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "base/status.h"

namespace token::net {

// A latency histogram with fixed buckets (seconds).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 15> kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
  void Observe(std::chrono::nanoseconds latency);
  // `name`_bucket{labels,le=...}, `name`_sum{labels}, `name`_count{labels}.
  void Render(std::string& out, std::string_view name, std::string_view labels) const;
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size()> buckets_{};  // not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

struct PeerGauge {
  std::string peer;
  bool up = false;  // its channel is connected (READY)
  std::uint64_t sent = 0;
  std::uint64_t dropped = 0;
};

// What a scrape reads from the node itself.
struct NodeGauges {
  std::string node;
  std::uint64_t tokens = 0;  // tokens this node serves in any role
  std::uint64_t crashed_tokens = 0;
  std::uint64_t held_calls = 0;
  std::uint64_t pending_operations = 0;
  std::uint64_t client_calls = 0;
  std::uint64_t peer_messages_in = 0;
  std::uint64_t peer_messages_rejected = 0;
  double uptime_s = 0;
  std::vector<PeerGauge> peers;
};

class Metrics {
 public:
  enum class Op { kCreate, kDrop, kWrite, kRead };
  static constexpr int kOps = 4;

  // A client operation answered with `code` after `latency`.
  void OpDone(Op op, grpc::StatusCode code, std::chrono::nanoseconds latency);
  // A storage commit (from the batch's append to its durability report).
  void SyncDone(std::chrono::nanoseconds latency);

  std::string Render(const NodeGauges& g) const;

 private:
  static constexpr int kCodes = 17;  // gRPC status codes 0..16
  std::array<std::array<std::atomic<std::uint64_t>, kCodes>, kOps> ops_{};
  std::array<LatencyHistogram, kOps> latency_;
  LatencyHistogram sync_;
};

// The HTTP endpoint: GET /metrics answers render() as text/plain; version=0.0.4.
class MetricsServer {
 public:
  // Binds `listen` (HOST:PORT; port 0 picks one) and serves on a thread of its own.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                      std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  int port() const { return port_; }

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace token::net
