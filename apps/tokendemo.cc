// tokendemo: the protocol core on a replication scheme, in one process, step by step.
//
//   tokendemo --config examples/cluster.yaml
//
// Builds one core Node per address in the scheme and drives them with an in-memory FIFO
// message queue (no network, no threads). For every token it writes the original system's
// transcript value (abc, 5, 25, 100), reads it at every reader, crashes a minority of
// replicas for that token and reads again, then crashes a majority and shows that a read
// no longer completes (and returns nothing wrong). Exit 0 when every step behaved.
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "core/node.h"
#include "core/scheme_yaml.h"

namespace token {
namespace {

class Cluster {
 public:
  explicit Cluster(std::shared_ptr<const ReplicationScheme> scheme) : scheme_(std::move(scheme)) {
    for (NodeIndex n = 0; n < scheme_->nodes().size(); ++n) {
      nodes_.push_back(std::make_unique<Node>(scheme_, n));
    }
  }

  // Runs one request to quiescence; the reply if one came.
  std::optional<ClientReply> Run(NodeIndex at, ClientRequest request) {
    request.request_id = ++next_id_;
    Absorb(at, nodes_[at]->OnClientRequest(request));
    for (int steps = 0; !queue_.empty() && steps < 1'000'000; ++steps) {
      auto [to, input] = std::move(queue_.front());
      queue_.pop_front();
      ++delivered_;
      Absorb(to, nodes_[to]->Handle(input));
    }
    auto it = replies_.find(request.request_id);
    if (it == replies_.end()) return std::nullopt;
    return it->second;
  }
  void Crash(NodeIndex n, TokenIndex t) { Absorb(n, nodes_[n]->OnCrash(t)); }
  std::uint64_t delivered() const { return delivered_; }

 private:
  void Absorb(NodeIndex from, const Outputs& out) {
    for (const auto& m : out.messages) queue_.emplace_back(m.to, m);
    for (const auto& c : out.computes) {
      queue_.emplace_back(from, ComputeResult{c.compute_id, Argmin(c.name, c.from, c.to)});
    }
    for (const auto& r : out.replies) replies_[r.request_id] = r;
  }

  std::shared_ptr<const ReplicationScheme> scheme_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::deque<std::pair<NodeIndex, Input>> queue_;
  std::map<std::uint64_t, ClientReply> replies_;
  std::uint64_t next_id_ = 0;
  std::uint64_t delivered_ = 0;
};

std::string Describe(const std::optional<ClientReply>& r) {
  if (!r) return "no answer (no quorum)";
  if (!r->status.ok()) return r->status.ToString();
  std::string s = fmt::format("version {} {}", r->version, ValueKindName(r->value.kind()));
  if (r->value.has_data()) {
    const auto& d = r->value.data();
    s += fmt::format(" name={} [{}, {}, {})", d.domain.name, d.domain.low, d.domain.mid,
                     d.domain.high);
    if (d.partial) s += fmt::format(" partial x={} hash={}", d.partial->x, d.partial->hash);
  }
  if (r->final_point)
    s += fmt::format(" final x={} hash={}", r->final_point->x, r->final_point->hash);
  return s;
}

int Usage() {
  std::fprintf(stderr, "usage: tokendemo --config SCHEME.yaml\n");
  return 2;
}

int Main(int argc, char** argv) {
  std::string config;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config = argv[++i];
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      Usage();
      return 0;
    } else {
      std::fprintf(stderr, "tokendemo: unknown argument '%s'\n", argv[i]);
      return Usage();
    }
  }
  if (config.empty()) return Usage();
  auto loaded = LoadSchemeFile(config);
  if (!loaded.ok()) {
    std::fprintf(stderr, "tokendemo: %s\n", loaded.status().ToString().c_str());
    return 2;
  }
  auto scheme = std::make_shared<const ReplicationScheme>(std::move(loaded).value());
  Cluster cluster(scheme);
  int failures = 0;
  auto check = [&](bool ok, const std::string& what) {
    fmt::print("  [{}] {}\n", ok ? " ok " : "FAIL", what);
    if (!ok) ++failures;
  };

  for (TokenIndex t = 0; t < scheme->tokens().size(); ++t) {
    const TokenScheme& ts = scheme->token(t);
    fmt::print("token '{}': writer {}, readers {}, quorum {} of {}\n", ts.id,
               scheme->node(ts.writer), scheme->NodeList(ts.readers), ts.quorum,
               ts.replicas.size());
    const Domain d{"abc", 5, 25, 100};
    const TokenData expect = ComputeTokenData(d);
    const HashPoint expect_final = ComputeFinal(expect);
    auto w = cluster.Run(ts.writer, ClientRequest{0, OpKind::kWrite, ts.id, d});
    check(w && w->status.ok() && w->value.data().partial == expect.partial,
          "write abc 5 25 100 at the writer: " + Describe(w));
    for (NodeIndex r : ts.readers) {
      auto rr = cluster.Run(r, ClientRequest{0, OpKind::kRead, ts.id, {}});
      check(rr && rr->status.ok() && rr->final_point == expect_final,
            fmt::format("read at {}: {}", scheme->node(r), Describe(rr)));
    }
    // Crash a minority of replicas (never the first reader, which keeps reading).
    const NodeIndex reader = ts.readers.front();
    std::size_t crashed = 0;
    for (auto it = ts.replicas.rbegin();
         it != ts.replicas.rend() && crashed + ts.quorum < ts.replicas.size(); ++it) {
      if (*it == reader) continue;
      cluster.Crash(*it, t);
      fmt::print("  crash {} for token '{}'\n", scheme->node(*it), ts.id);
      ++crashed;
    }
    auto rr = cluster.Run(reader, ClientRequest{0, OpKind::kRead, ts.id, {}});
    check(
        rr && rr->status.ok() && rr->final_point == expect_final,
        fmt::format("read at {} with a minority crashed: {}", scheme->node(reader), Describe(rr)));
    // Crash replicas until only a minority is left.
    for (NodeIndex n : ts.replicas) {
      if (n == reader || crashed + ts.quorum > ts.replicas.size()) continue;
      cluster.Crash(n, t);
      fmt::print("  crash {} for token '{}'\n", scheme->node(n), ts.id);
      ++crashed;
    }
    if (crashed + ts.quorum > ts.replicas.size()) {
      auto hung = cluster.Run(reader, ClientRequest{0, OpKind::kRead, ts.id, {}});
      check(!hung, fmt::format("read at {} with a majority crashed: {}", scheme->node(reader),
                               Describe(hung)));
    }
  }
  fmt::print("{} messages delivered; {}\n", cluster.delivered(),
             failures == 0 ? "every step behaved" : fmt::format("{} step(s) FAILED", failures));
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace token

int main(int argc, char** argv) { return token::Main(argc, argv); }
