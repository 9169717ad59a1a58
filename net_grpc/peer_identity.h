// Who is calling: the node a replica stream or call speaks for, checked against the scheme
// and against the caller's TLS certificate or, without TLS, its source address.
//
// A caller names its node (x-token-node metadata) and its scheme's fingerprint
// (x-token-scheme). The node must be another node of this scheme and the fingerprint ours.
// Then, by the node's mode (docs/SECURITY.md):
//   - with a cluster secret the call must carry a fresh proof of it (x-token-auth,
//     peer_auth.h) for this method, sender and receiver;
//   - with mutual TLS the certificate must name that node (CN or SAN equal to its address
//     or host);
//   - with neither (--insecure-peers only) the source address must be that node's host
//     (loopback may speak for loopback): any local process can then speak for any node.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "base/status.h"
#include "core/scheme.h"
#include "net_grpc/peer_auth.h"

namespace token::net {

struct PeerCheck {
  const ReplicationScheme* scheme = nullptr;
  NodeIndex self = 0;
  std::string fingerprint;  // SchemeFingerprint(*scheme)
  bool tls = false;
  PeerAuthenticator* secret = nullptr;  // null: no cluster secret
};

// The calling node, or PERMISSION_DENIED saying why a `method` call ("Deliver", "Query",
// "Update") is refused; the message is bounded (at most a short prefix of what the caller
// sent).
Result<NodeIndex> IdentifyPeer(const PeerCheck& check, const grpc::CallbackServerContext& ctx,
                               std::string_view method);

// The same checks for a claim that arrived another way (a peer socket's hello,
// peer_socket.h): `name` and `fingerprint` as claimed, `proof` the x-token-auth value (""
// none), `source_host` the caller's IP address ("127.0.0.1", "::1"). Without TLS only: a
// node with TLS takes no peer sockets, and this refuses every claim when check.tls is set.
Result<NodeIndex> IdentifyClaim(const PeerCheck& check, std::string_view method,
                                std::string_view name, std::string_view fingerprint,
                                std::string_view proof, std::string_view source_host);

}  // namespace token::net
