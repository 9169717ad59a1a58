// TokenClient: a blocking client of a token manager cluster, for tools and tests.
//
// Two ways to reach the cluster:
//   - ForScheme: routes by the replication scheme, as the original client did with its
//     YAML file: create/drop/write go to the token's writer; a read goes to a random
//     reader and, when that reader does not answer in time (UNAVAILABLE, DEADLINE_EXCEEDED),
//     falls over to the next one, each reader tried at most once.
//   - ForServer: every call goes to one node (which may reject it, naming the right node).
//
// Every call has a deadline (`timeout`); channels are created once per node and reused.
// Thread-safety: calls may run concurrently from several threads; the random choice of
// reader uses a per-client generator guarded by a mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include <grpcpp/grpcpp.h>

#include "base/status.h"
#include "core/scheme.h"
#include "core/token.h"
#include "net_grpc/credentials.h"
#include "proto/token.grpc.pb.h"

namespace token::net {

// The outcome of one call: the gRPC status, the reply when ok, and the node that answered
// (or was last tried).
template <typename Reply>
struct CallResult {
  grpc::Status status;
  Reply reply;
  std::string node;
  bool ok() const { return status.ok(); }
};

class TokenClient {
 public:
  using Timeout = std::chrono::milliseconds;

  static Result<std::unique_ptr<TokenClient>> ForScheme(
      std::shared_ptr<const ReplicationScheme> scheme, const TlsFiles& tls = {});
  static Result<std::unique_ptr<TokenClient>> ForServer(const std::string& address,
                                                        const TlsFiles& tls = {});

  CallResult<tokenmgr::v1::TokenReply> Create(const std::string& id, Timeout timeout);
  CallResult<tokenmgr::v1::TokenReply> Drop(const std::string& id, Timeout timeout);
  CallResult<tokenmgr::v1::TokenReply> Write(const std::string& id, const Domain& domain,
                                             Timeout timeout);
  CallResult<tokenmgr::v1::TokenReply> Read(const std::string& id, Timeout timeout);

  // Admin calls go to the named node (or the --server node when `node` is empty).
  CallResult<tokenmgr::v1::CrashTokenReply> CrashToken(const std::string& node,
                                                       const std::string& id, Timeout timeout);
  CallResult<tokenmgr::v1::StatusReply> NodeStatus(const std::string& node, Timeout timeout);

  // The nodes a `status` without a node asks: every node of the scheme, or the server.
  std::vector<std::string> Nodes() const;

 private:
  TokenClient(std::shared_ptr<const ReplicationScheme> scheme, std::string server,
              std::shared_ptr<grpc::ChannelCredentials> credentials);
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);
  // Where a writer operation on `id` goes; an error result when the scheme has no such token.
  Result<std::string> WriterOf(const std::string& id) const;

  template <typename Request>
  CallResult<tokenmgr::v1::TokenReply> Call(const std::string& node, const Request& request,
                                            Timeout timeout);

  std::shared_ptr<const ReplicationScheme> scheme_;  // null in server mode
  std::string server_;                               // server mode
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::mt19937_64 random_;
};

}  // namespace token::net
