// Transport security for nodes and clients: plaintext (loopback, tests) or mutual TLS.
//
// With TLS every node presents its certificate and requires one from callers, signed by
// the configured CA; a peer's node identity is then taken from its certificate (common
// name or a subject alternative name equal to the node's address or its host), not from
// what it claims in metadata.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "base/status.h"

namespace token::net {

struct TlsFiles {
  std::string cert;  // PEM certificate chain of this node / client
  std::string key;   // PEM private key
  std::string ca;    // PEM root certificates that sign the peers' certificates
  bool enabled() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

// Reads the files; INVALID_ARGUMENT naming the file when one is missing or unreadable, or
// when only some of the three are given.
Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& tls);
Result<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsFiles& tls);

// The keepalive period of every channel: a ping on each connection this often, idle or
// not, and servers that accept pings at twice that rate (so no GOAWAY too_many_pings).
// TOKEN_KEEPALIVE_MS overrides it (tests: 100..3600000); KeepaliveTime() reads and checks it.
inline constexpr std::chrono::milliseconds kDefaultKeepaliveTime{10'000};
inline constexpr std::chrono::milliseconds kMinKeepaliveTime{100};
inline constexpr std::chrono::milliseconds kMaxKeepaliveTime{3'600'000};
Result<std::chrono::milliseconds> KeepaliveTime();

// The largest message any channel or server of this project sends or receives (set
// explicitly on both sides; gRPC's own default receive limit is the same 4 MiB). A write's
// name is at most kMaxNameBytes (core/token.h), so a request, a reply or a peer message
// carrying it fits.
inline constexpr int kMaxMessageBytes = 4 << 20;
// Peer batches are cut at this size (peer_link.h); a single peer message may reach
// kMaxPeerMessageBytes and then travels alone.
inline constexpr std::size_t kPeerBatchBytes = 1 << 20;
inline constexpr std::size_t kMaxPeerMessageBytes = kMaxMessageBytes - (64 << 10);

// Channel arguments every channel of this project uses (keepalive, reconnect backoff,
// message size limits).
grpc::ChannelArguments DefaultChannelArguments();
// The same settings for a server (keepalive it accepts, message size limits).
void ConfigureServer(grpc::ServerBuilder& builder);

}  // namespace token::net
