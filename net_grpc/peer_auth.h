// Peer authentication without TLS: every replica stream or call proves knowledge of the
// cluster secret (docs/SECURITY.md).
//
// The caller adds x-token-auth: "v1 <unix-ms> <nonce> <mac>", where nonce is 16 fresh
// random bytes in hex and mac is the hex HMAC-SHA256, keyed with the cluster secret, of
//   "tokenmgr-peer-v1\n<method>\n<sender>\n<receiver>\n<scheme fingerprint>\n<unix-ms>\n<nonce>"
// (method: Deliver, Query or Update; sender and receiver: node access points as in the
// scheme). The secret itself never travels. The receiver recomputes the MAC for the node
// the call claims to come from and itself, compares in constant time, accepts a
// timestamp within kAuthWindow of its own clock, and refuses a nonce it has accepted
// within the window (a replayed header), so a proof opens exactly one stream or call.
//
// The proof binds the stream's identity (who, to whom, which scheme, which method), not
// the bytes that follow: without TLS an attacker on the path between two hosts could still
// alter a stream. Use mutual TLS on networks you do not trust; the secret is for a host or
// a network where other users and processes, but not the path itself, are the threat.
//
// Thread-safety: PeerAuthenticator is safe to call from any thread; the free functions are
// pure (but for the randomness of nonces).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <grpcpp/grpcpp.h>

#include "base/status.h"

namespace token::net {

inline constexpr std::size_t kMinSecretBytes = 32;
inline constexpr std::size_t kMaxSecretBytes = 4096;
inline constexpr std::chrono::milliseconds kAuthWindow{60'000};
inline constexpr std::size_t kMaxRememberedNonces = 200'000;

// Reads a cluster secret file: its content without trailing whitespace, 32..4096 bytes.
// INVALID_ARGUMENT naming the file when it is missing, readable or writable by others
// than its owner and group (mode & 007), or too short or too long.
Result<std::string> LoadClusterSecret(const std::string& path);
// Writes a fresh random secret (64 hex characters) to `path`, created with mode 0600
// (refused when the file exists).
Status WriteNewClusterSecret(const std::string& path);

// `bytes` random bytes (OpenSSL's RAND_bytes) in lowercase hex. REQUIRES: bytes <= 64.
std::string RandomHex(std::size_t bytes);

// The x-token-auth value for a call of `method` from `sender` to `receiver`.
std::string MakePeerProof(std::string_view secret, std::string_view method, std::string_view sender,
                          std::string_view receiver, std::string_view fingerprint);
// The same with the timestamp and nonce given (tests).
std::string MakePeerProofAt(std::string_view secret, std::string_view method,
                            std::string_view sender, std::string_view receiver,
                            std::string_view fingerprint, std::int64_t unix_ms,
                            std::string_view nonce);

class PeerAuthenticator {
 public:
  PeerAuthenticator(std::string secret, std::string self, std::string fingerprint);
  // OK when `proof` is a fresh, valid proof of a `method` call from `sender` to this node;
  // PERMISSION_DENIED saying what is wrong otherwise (never echoing more than a short
  // prefix of what the caller sent).
  Status Verify(std::string_view method, std::string_view sender, std::string_view proof);

 private:
  const std::string secret_;
  const std::string self_;
  const std::string fingerprint_;
  std::mutex mu_;
  // Accepted nonces and their timestamps; entries older than the window are forgotten.
  std::unordered_map<std::string, std::int64_t> seen_;
  std::int64_t last_purge_ms_ = 0;
};

}  // namespace token::net
