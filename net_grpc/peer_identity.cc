#include "net_grpc/peer_identity.h"

#include <iterator>
#include <string_view>

#include <fmt/format.h>
#include <openssl/sha.h>

#include "base/text.h"
#include "net_grpc/node_server.h"

namespace token::net {
namespace {

std::string_view HostOf(std::string_view address) {
  const auto colon = address.rfind(':');
  std::string_view host = colon == std::string_view::npos ? address : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

bool IsLoopback(std::string_view host) {
  return host.starts_with("127.") || host == "::1" || host == "localhost";
}

// "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000" -> the host.
std::string PeerHost(const std::string& peer) {
  std::string_view p = peer;
  if (const auto colon = p.find(':'); colon != std::string_view::npos) p = p.substr(colon + 1);
  return std::string(HostOf(p));
}

}  // namespace

std::string SchemeFingerprint(const ReplicationScheme& scheme) {
  // "id\nwriter\nreader,reader,\n" per token, appended directly (no formatting per token:
  // a scheme may hold 100,000s).
  std::string canonical;
  for (const TokenScheme& t : scheme.tokens()) {
    canonical.append(t.id).push_back('\n');
    canonical.append(scheme.node(t.writer)).push_back('\n');
    for (NodeIndex r : t.readers) canonical.append(scheme.node(r)).push_back(',');
    canonical.push_back('\n');
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  std::string hex;
  for (unsigned char b : digest) hex += fmt::format("{:02x}", b);
  return hex;
}

namespace {

// The checks every claim passes whatever carried it: a node of the scheme but this one,
// our scheme, and the secret's proof when there is a secret.
Result<NodeIndex> CheckClaim(const PeerCheck& check, std::string_view method, std::string_view name,
                             std::string_view their_scheme, std::string_view proof) {
  auto node = check.scheme->FindNode(name);
  if (!node || *node == check.self) {
    return Status::PermissionDenied(
        fmt::format("{} is not a node of this replication scheme", Abbreviate(name)));
  }
  if (their_scheme != check.fingerprint) {
    return Status::PermissionDenied(
        fmt::format("node {} runs a different replication scheme ({} here, {} there)", name,
                    check.fingerprint.substr(0, 12), Abbreviate(their_scheme.substr(0, 12))));
  }
  if (check.secret != nullptr) {
    if (Status s = check.secret->Verify(method, name, proof); !s.ok()) {
      return Status::PermissionDenied(fmt::format("{} (call claims node {})", s.message(), name));
    }
  }
  return *node;
}

// Without TLS or a secret, a claim is only as good as its source address.
Status CheckSource(const PeerCheck& check, std::string_view name, std::string_view source) {
  if (check.secret != nullptr) return Status::Ok();
  const std::string_view host = HostOf(name);
  if (source != host && !(IsLoopback(source) && IsLoopback(host))) {
    return Status::PermissionDenied(fmt::format(
        "a call from {} cannot speak for node {} (use TLS across hosts)", source, name));
  }
  return Status::Ok();
}

}  // namespace

Result<NodeIndex> IdentifyPeer(const PeerCheck& check, const grpc::CallbackServerContext& ctx,
                               std::string_view method) {
  const auto& metadata = ctx.client_metadata();
  auto claimed = metadata.find("x-token-node");
  auto scheme = metadata.find("x-token-scheme");
  if (claimed == metadata.end() || scheme == metadata.end()) {
    return Status::PermissionDenied(
        "replica calls must name the calling node (x-token-node) and its scheme "
        "(x-token-scheme)");
  }
  const std::string_view name(claimed->second.data(), claimed->second.size());
  auto proof = metadata.find("x-token-auth");
  const std::string_view p = proof == metadata.end()
                                 ? std::string_view()
                                 : std::string_view(proof->second.data(), proof->second.size());
  auto node = CheckClaim(check, method, name, {scheme->second.data(), scheme->second.size()}, p);
  if (!node.ok()) return node;
  if (check.tls) {
    const std::string_view host = HostOf(name);
    auto auth = ctx.auth_context();
    bool match = false;
    for (const char* property : {"x509_subject_alternative_name", "x509_common_name"}) {
      for (const auto& value : auth->FindPropertyValues(property)) {
        const std::string_view v(value.data(), value.size());
        if (v == name || v == host) match = true;
      }
    }
    if (!match) {
      return Status::PermissionDenied(
          fmt::format("the caller's certificate does not name node {}", name));
    }
  } else if (Status s = CheckSource(check, name, PeerHost(ctx.peer())); !s.ok()) {
    return s;
  }
  return node;
}

Result<NodeIndex> IdentifyClaim(const PeerCheck& check, std::string_view method,
                                std::string_view name, std::string_view fingerprint,
                                std::string_view proof, std::string_view source_host) {
  if (check.tls) {
    return Status::PermissionDenied("this node takes peers over TLS (gRPC) only, not sockets");
  }
  auto node = CheckClaim(check, method, name, fingerprint, proof);
  if (!node.ok()) return node;
  if (Status s = CheckSource(check, name, source_host); !s.ok()) return s;
  return node;
}

}  // namespace token::net
