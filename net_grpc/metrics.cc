#include "net_grpc/metrics.h"

#include <iterator>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "net_grpc/convert.h"

namespace token::net {
namespace {

constexpr std::array<const char*, Metrics::kOps> kOpNames = {"create", "drop", "write", "read"};

// A label value: backslash, quote and newline escaped (the exposition format's rule).
std::string Label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void LatencyHistogram::Observe(std::chrono::nanoseconds latency) {
  const double s = std::chrono::duration<double>(latency).count();
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (s <= kBounds[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0)),
                    std::memory_order_relaxed);
}

void LatencyHistogram::Render(std::string& out, std::string_view name,
                              std::string_view labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                   kBounds[i], cumulative);
  }
  const std::uint64_t count = count_.load(std::memory_order_relaxed);
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep,
                 count);
  const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  fmt::format_to(std::back_inserter(out), "{}_sum{} {:.9f}\n{}_count{} {}\n", name, braces,
                 static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9, name, braces,
                 count);
}

void Metrics::OpDone(Op op, grpc::StatusCode code, std::chrono::nanoseconds latency) {
  const auto o = static_cast<std::size_t>(op);
  const int c = static_cast<int>(code);
  ops_[o][static_cast<std::size_t>(c >= 0 && c < kCodes ? c : 2)].fetch_add(
      1, std::memory_order_relaxed);
  latency_[o].Observe(latency);
}

void Metrics::SyncDone(std::chrono::nanoseconds latency) { sync_.Observe(latency); }

std::string Metrics::Render(const NodeGauges& g) const {
  std::string out;
  auto gauge = [&out](std::string_view name, std::string_view help, auto value) {
    Header(out, name, "gauge", help);
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  };
  Header(out, "tokenmgr_node_info", "gauge", "this node's identity (its address in the scheme)");
  fmt::format_to(std::back_inserter(out), "tokenmgr_node_info{{node=\"{}\"}} 1\n", Label(g.node));
  gauge("tokenmgr_uptime_seconds", "seconds since the node started", g.uptime_s);
  Header(out, "tokenmgr_operations_total", "counter",
         "client operations answered, by type and gRPC outcome");
  for (int o = 0; o < kOps; ++o) {
    for (int c = 0; c < kCodes; ++c) {
      const std::uint64_t n = ops_[static_cast<std::size_t>(o)][static_cast<std::size_t>(c)].load(
          std::memory_order_relaxed);
      if (n == 0 && c != 0) continue;  // every type's OK line, other outcomes once seen
      fmt::format_to(
          std::back_inserter(out), "tokenmgr_operations_total{{op=\"{}\",outcome=\"{}\"}} {}\n",
          kOpNames[static_cast<std::size_t>(o)], GrpcCodeName(static_cast<grpc::StatusCode>(c)), n);
    }
  }
  Header(out, "tokenmgr_operation_latency_seconds", "histogram",
         "client operations from the call's arrival to its answer, by type");
  for (int o = 0; o < kOps; ++o) {
    latency_[static_cast<std::size_t>(o)].Render(
        out, "tokenmgr_operation_latency_seconds",
        fmt::format("op=\"{}\"", kOpNames[static_cast<std::size_t>(o)]));
  }
  gauge("tokenmgr_client_calls_total", "client calls received", g.client_calls);
  gauge("tokenmgr_held_calls", "calls held silently for tokens crashed at this node", g.held_calls);
  gauge("tokenmgr_pending_operations", "operations this node coordinates, not yet answered",
        g.pending_operations);
  gauge("tokenmgr_tokens", "tokens this node serves in any role", g.tokens);
  gauge("tokenmgr_crashed_tokens", "tokens crash-stopped at this node", g.crashed_tokens);
  gauge("tokenmgr_peer_messages_in_total", "messages received from peers", g.peer_messages_in);
  gauge("tokenmgr_peer_messages_rejected_total", "peer messages refused", g.peer_messages_rejected);
  Header(out, "tokenmgr_peer_link_up", "gauge",
         "1 when the channel to the peer is connected, else 0");
  for (const PeerGauge& p : g.peers) {
    fmt::format_to(std::back_inserter(out), "tokenmgr_peer_link_up{{peer=\"{}\"}} {}\n",
                   Label(p.peer), p.up ? 1 : 0);
  }
  Header(out, "tokenmgr_peer_messages_sent_total", "counter", "messages sent to each peer");
  for (const PeerGauge& p : g.peers) {
    fmt::format_to(std::back_inserter(out), "tokenmgr_peer_messages_sent_total{{peer=\"{}\"}} {}\n",
                   Label(p.peer), p.sent);
  }
  Header(out, "tokenmgr_peer_messages_dropped_total", "counter",
         "messages to each peer dropped (its link was down)");
  for (const PeerGauge& p : g.peers) {
    fmt::format_to(std::back_inserter(out),
                   "tokenmgr_peer_messages_dropped_total{{peer=\"{}\"}} {}\n", Label(p.peer),
                   p.dropped);
  }
  Header(out, "tokenmgr_storage_commit_latency_seconds", "histogram",
         "--data-dir: from a batch's append to its durability (group commit and fdatasync)");
  sync_.Render(out, "tokenmgr_storage_commit_latency_seconds", "");
  return out;
}

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                            std::function<std::string()> render) {
  const auto colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      std::size_t used = 0;
      port = std::stoi(listen.substr(colon + 1), &used);
      if (used != listen.size() - colon - 1) port = -1;
    } catch (const std::exception&) {
      port = -1;
    }
  }
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535) {
    return Status::InvalidArgument(
        fmt::format("--metrics-listen '{}': expected HOST:PORT (port 0..65535)", listen));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto impl = std::make_unique<Impl>();
  impl->server.Get("/metrics", [render](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  const int bound = port == 0 ? impl->server.bind_to_any_port(host) : port;
  if (bound < 0 || (port != 0 && !impl->server.bind_to_port(host, port))) {
    return Status::InvalidArgument(
        fmt::format("--metrics-listen {}: cannot listen there (in use, or not an address of "
                    "this machine)",
                    listen));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  // stop() does nothing before the loop runs: wait for it (bounded) so that the destructor
  // can always end it.
  for (int i = 0; i < 2000 && !impl->server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl), bound));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace token::net
