// Who is calling: the node a replica stream or call speaks for, checked against the scheme
// and against the caller's TLS certificate or, without TLS, its source address.
//
// A caller names its node (x-token-node metadata) and its scheme's fingerprint
// (x-token-scheme). The node must be another node of this scheme and the fingerprint ours;
// with mutual TLS the certificate must name that node (CN or SAN equal to its address or
// host); without TLS the source address must be that node's host (loopback may speak for
// loopback).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "base/status.h"
#include "core/scheme.h"

namespace token::net {

struct PeerCheck {
  const ReplicationScheme* scheme = nullptr;
  NodeIndex self = 0;
  std::string fingerprint;  // SchemeFingerprint(*scheme)
  bool tls = false;
};

// The calling node, or FAILED_PRECONDITION / INVALID_ARGUMENT saying why it is refused.
Result<NodeIndex> IdentifyPeer(const PeerCheck& check, const grpc::CallbackServerContext& ctx);

}  // namespace token::net
