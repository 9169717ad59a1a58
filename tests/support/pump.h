// A small message pump that drives several core Nodes by hand, for tests.
//
// Messages and compute requests produced by the nodes wait in `inflight` and `computes`
// until the test delivers them: all in FIFO order (DeliverAll), one by index (Deliver),
// or filtered (a `hold` predicate keeps matching messages back). Replies to clients are
// collected by request id. No threads, no clock: the test decides every step.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/node.h"
#include "core/scheme_yaml.h"

namespace token::testing {

// The pump's node addresses: node i of a test scheme is 127.0.0.1:i.
inline std::string Addr(int i) { return "127.0.0.1:" + std::to_string(i); }

struct PendingCompute {
  NodeIndex node = 0;
  ComputeRequest request;
};

class Pump {
 public:
  explicit Pump(const std::string& yaml, NodeOptions options = {}) {
    auto scheme = ParseSchemeYaml(yaml);
    TOKEN_ASSERT(scheme.ok(), "test scheme must parse");
    scheme_ = std::make_shared<const ReplicationScheme>(std::move(scheme).value());
    for (NodeIndex n = 0; n < scheme_->nodes().size(); ++n) {
      nodes_.push_back(std::make_unique<Node>(scheme_, n, options));
    }
  }

  const ReplicationScheme& scheme() const { return *scheme_; }
  NodeIndex N(const std::string& address) const {
    auto n = scheme_->FindNode(address);
    TOKEN_ASSERT(n.has_value(), "unknown node in test");
    return *n;
  }
  TokenIndex T(const std::string& id) const {
    auto t = scheme_->FindToken(id);
    TOKEN_ASSERT(t.has_value(), "unknown token in test");
    return *t;
  }
  Node& node(const std::string& address) { return *nodes_[N(address)]; }

  std::uint64_t Write(const std::string& at, const std::string& token, Domain d) {
    return Submit(at, ClientRequest{0, OpKind::kWrite, token, std::move(d)});
  }
  std::uint64_t Read(const std::string& at, const std::string& token) {
    return Submit(at, ClientRequest{0, OpKind::kRead, token, {}});
  }
  std::uint64_t Submit(const std::string& at, ClientRequest r) {
    r.request_id = next_request_id_++;
    Absorb(N(at), nodes_[N(at)]->OnClientRequest(r));
    return r.request_id;
  }
  void Crash(const std::string& at, const std::string& token) {
    Absorb(N(at), nodes_[N(at)]->OnCrash(T(token)));
  }

  // Delivers inflight[i] to its destination.
  void Deliver(std::size_t i) {
    TOKEN_ASSERT(i < inflight.size(), "no such message");
    Message m = inflight[i];
    inflight.erase(inflight.begin() + static_cast<std::ptrdiff_t>(i));
    ++delivered;
    Absorb(m.to, nodes_[m.to]->OnMessage(m));
  }

  // Runs compute request i to completion and feeds the result back.
  void Compute(std::size_t i) {
    TOKEN_ASSERT(i < computes.size(), "no such compute");
    PendingCompute c = computes[i];
    computes.erase(computes.begin() + static_cast<std::ptrdiff_t>(i));
    ComputeResult r{c.request.compute_id, Argmin(c.request.name, c.request.from, c.request.to)};
    Absorb(c.node, nodes_[c.node]->OnComputeResult(r));
  }

  // Runs every pending compute request (and none of the messages).
  void ComputeAll() {
    while (!computes.empty()) Compute(0);
  }

  // Delivers and computes in FIFO order until nothing deliverable is left; messages for
  // which hold() is true stay in `inflight`. Bounded by max_steps.
  std::size_t DeliverAll(std::size_t max_steps = 100000) {
    std::size_t steps = 0;
    while (steps < max_steps) {
      if (!computes.empty()) {
        Compute(0);
        ++steps;
        continue;
      }
      std::size_t i = 0;
      while (i < inflight.size() && hold && hold(inflight[i])) ++i;
      if (i == inflight.size()) break;
      Deliver(i);
      ++steps;
    }
    TOKEN_ASSERT(steps < max_steps, "pump did not quiesce");
    return steps;
  }

  std::optional<ClientReply> reply(std::uint64_t request_id) const {
    auto it = replies.find(request_id);
    if (it == replies.end()) return std::nullopt;
    return it->second;
  }

  std::vector<Message> inflight;
  std::vector<PendingCompute> computes;
  std::map<std::uint64_t, ClientReply> replies;
  std::function<bool(const Message&)> hold;
  std::uint64_t delivered = 0;

 private:
  void Absorb(NodeIndex from, const Outputs& out) {
    for (const auto& m : out.messages) {
      EXPECT_EQ(m.from, from) << "a node sends only as itself";
      inflight.push_back(m);
    }
    for (const auto& c : out.computes) computes.push_back({from, c});
    for (const auto& r : out.replies) {
      EXPECT_FALSE(replies.contains(r.request_id)) << "a request is answered once";
      replies[r.request_id] = r;
    }
  }

  std::shared_ptr<const ReplicationScheme> scheme_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::uint64_t next_request_id_ = 1;
};

}  // namespace token::testing
