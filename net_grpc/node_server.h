// NodeServer: one protocol core (core/node.h) served over gRPC as a real node.
//
// Threads and ownership:
//   - gRPC's callback threads run the service handlers. Handlers never block and never touch
//     the core: they decode, check, and post a task to the executor.
//   - One Executor thread owns the core Node and every table of calls in flight. It feeds
//     inputs to the Node and acts on its Outputs: replies finish client calls, messages go
//     to peers (batched per peer, see peer_link.h) or back into the Node when addressed to
//     itself, compute requests go to the ComputePool.
//   - ComputePool workers run argmin computations and post the results back.
//
// Calls in flight are callback reactors, not threads: a client call waiting on a crashed
// token, or on a quorum that never answers, costs a table entry and a reactor. A call on a
// token crashed at this node is never answered (fail-silent) and ends at the caller's
// deadline (or the server's shutdown); a call the core accepted ends with its reply, or with
// UNAVAILABLE when no quorum answered before the caller's deadline (or --op-timeout when the
// caller set none). The number of held calls is bounded (max_held_calls).
//
// Replica traffic is accepted only from nodes of the token's replica set, and only from a
// caller that authenticates (docs/SECURITY.md): by its TLS certificate, or by a proof of the
// cluster secret on every stream and call (peer_auth.h). A node that shares tokens with
// others refuses to start with neither, unless insecure_peers is set (then, as before, the
// x-token-node metadata checked against the source address: any local process can speak
// for any local node). Refused calls change nothing and are counted (Status:
// peer_auth_refused).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "core/node.h"
#include "core/scheme.h"
#include "net_grpc/credentials.h"

namespace token::net {

// The first operation id of a node process started at `unix_ms` (wall clock, ms): Node::
// OnStart wants ids no earlier process of the node used. The clock times 2^22: a process
// uses fewer than 2^22 ids per millisecond of its life (4 billion operations a second), so
// every id it used is below the first id of any process started later, with no counter to
// keep on disk (a replacement has none). Only a wall clock set back across a restart, to
// before the old process's start plus its ids / 2^22 ms, could let them meet. Good until
// the year 2109.
std::uint64_t FirstOpIdAtUnixMs(std::uint64_t unix_ms);

struct NodeServerOptions {
  std::shared_ptr<const ReplicationScheme> scheme;
  std::string self;    // this node's access point, as named in the scheme
  std::string listen;  // where to bind; empty: `self`
  // Argmin worker threads; 0: one per core, at most 8 (DefaultComputeWorkers).
  int compute_workers = 0;
  // An argmin over at most this many points runs inline on the node's executor thread
  // instead of a hop to the workers and back (two thread wake-ups); 0: never inline.
  // bench/compute_hop_bench measures where the line falls (README, Benchmarks): 256 points
  // are about 8.6 us of hashing with the two-lane SHA-NI argmin (34 ns a point), less than
  // the quickest hop measured (10 us on a quiet machine, 30-300 us with both cores busy),
  // and short enough not to hold up the executor's other work (the workers take 65,536
  // points at a time).
  std::uint64_t inline_argmin_points = kDefaultInlineArgminPoints;
  static constexpr std::uint64_t kDefaultInlineArgminPoints = 256;
  // With --data-dir: while the store's commits (write and fdatasync) average less than
  // this, the executor commits a batch itself instead of waking the store's sync thread
  // and waiting for its report (storage::StoreOptions::inline_commit_below); 0: never.
  // On tmpfs a commit takes a few microseconds, on a disk milliseconds, so the default
  // keeps disks on the sync thread (group commit) and takes the two thread wake-ups off
  // each write's path on /dev/shm (bench/cluster_bench.sh; docs/STORAGE.md).
  std::chrono::microseconds inline_commit_below{kDefaultInlineCommitBelowUs};
  static constexpr std::int64_t kDefaultInlineCommitBelowUs = 100;
  // How many of gRPC's callback ("nexting") threads run reactions; the others are parked
  // for the node's life (NodeServer::Impl::ParkCallbackThreads). gRPC 1.51 starts
  // clamp(cores / 2, 2, 16) of them per process and hands the poller role from one to
  // another on every completion; with one left it polls and runs reactions alone, without
  // those wake-ups (bench/cluster_bench.sh, docs/ARCHITECTURE.md "Latency"). 0: all run.
  int callback_threads = kDefaultCallbackThreads;
  static constexpr int kDefaultCallbackThreads = 1;
  // The most values a write's domain may hold (NodeOptions::max_domain).
  std::uint64_t max_domain = NodeOptions::kDefaultMaxDomain;
  // How long an operation may wait for a quorum when its caller set no deadline.
  std::chrono::milliseconds op_timeout{5000};
  std::size_t max_held_calls = 100'000;
  // Client calls in flight about one token (held or waiting), and at the node in all
  // (host::HostOptions).
  std::size_t max_calls_per_token = 1'000;
  std::size_t max_calls = 200'000;
  bool fast_read = true;
  bool log_requests = true;  // one line per client request, with the token's state
  std::FILE* log = stderr;
  TlsFiles tls;
  // The cluster secret (peer_auth.h; LoadClusterSecret): empty for none.
  std::string cluster_secret;
  // Run without peer authentication (neither TLS nor a secret); logs a warning.
  bool insecure_peers = false;
  // Protocol messages between nodes on peer sockets of the node's own, on its gRPC port
  // (peer_socket.h); false: on gRPC streams (PeerLink), with gRPC listening itself. With
  // TLS always gRPC. Every node of a cluster must use the same.
  bool peer_sockets = true;
  // Where the node keeps its durable state (storage/store.h); empty: in memory only, lost
  // when the process ends (never restart such a node into a cluster that holds data).
  std::string data_dir;
  // How to start when data_dir holds no node state: kNew (the first start of a new
  // cluster) or kReplacement (it replaces a node whose data is lost: it catches up from
  // its peers before it serves). Unset: such a directory is refused. Ignored when the
  // directory holds state (the node restarts from it).
  std::optional<StartMode> initial_state;
  // Where to serve Prometheus metrics over HTTP (HOST:PORT, GET /metrics); empty: nowhere.
  std::string metrics_listen;
  // Called once, from any thread, when the node can no longer make state durable (a failed
  // write or sync): it has stopped acknowledging; the process should stop and restart.
  std::function<void(const Status&)> on_fatal;
};

// A hex SHA-256 over the scheme's tokens, writers and readers: nodes compare it so that
// peers running different replication schemes refuse each other.
std::string SchemeFingerprint(const ReplicationScheme& scheme);

class NodeServer {
 public:
  // Binds and starts serving. INVALID_ARGUMENT when `self` is not a node of the scheme,
  // the TLS files are unusable, or the node has peers but no way to authenticate them
  // (neither TLS, a cluster secret nor insecure_peers); UNAVAILABLE when the address
  // cannot be bound.
  static Result<std::unique_ptr<NodeServer>> Start(NodeServerOptions options);
  ~NodeServer();
  NodeServer(const NodeServer&) = delete;
  NodeServer& operator=(const NodeServer&) = delete;

  // Stops accepting calls, ends calls in flight, closes peer streams. Idempotent.
  void Shutdown();

  const std::string& self() const;
  int port() const;

 private:
  class Impl;
  explicit NodeServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace token::net
