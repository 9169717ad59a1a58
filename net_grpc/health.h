// Readiness: waits until a node answers the standard gRPC health check with SERVING.
#pragma once

#include <chrono>
#include <string>

#include "base/status.h"
#include "net_grpc/credentials.h"

namespace token::net {

// Polls `address` (every 20 ms, each probe with a 200 ms deadline) until it reports
// SERVING, or fails with UNAVAILABLE naming the last error once `limit` has passed.
Status WaitUntilServing(const std::string& address, std::chrono::milliseconds limit,
                        const TlsFiles& tls = {});

// The process id the node answering at `address` reports (Admin.Status), to tell a node
// one started from another process holding its address. UNAVAILABLE when it does not
// answer within `limit`.
Result<std::uint64_t> ServingPid(const std::string& address, std::chrono::milliseconds limit,
                                 const TlsFiles& tls = {});

}  // namespace token::net
