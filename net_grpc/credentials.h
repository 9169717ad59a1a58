// Transport security for nodes and clients: plaintext (loopback, tests) or mutual TLS.
//
// With TLS every node presents its certificate and requires one from callers, signed by
// the configured CA; a peer's node identity is then taken from its certificate (common
// name or a subject alternative name equal to the node's address or its host), not from
// what it claims in metadata.
#pragma once

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

// Channel arguments every channel of this project uses (keepalive, reconnect backoff).
grpc::ChannelArguments DefaultChannelArguments();

}  // namespace token::net
