#include "net_grpc/peer_auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/file.h"

namespace token::net {
namespace {

std::string Hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

std::string Mac(std::string_view secret, std::string_view method, std::string_view sender,
                std::string_view receiver, std::string_view fingerprint, std::int64_t unix_ms,
                std::string_view nonce) {
  const std::string text = fmt::format("tokenmgr-peer-v1\n{}\n{}\n{}\n{}\n{}\n{}", method, sender,
                                       receiver, fingerprint, unix_ms, nonce);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  return Hex(mac, len);
}

std::int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string RandomHex(std::size_t bytes) {
  unsigned char buf[64];
  TOKEN_ASSERT(bytes <= sizeof buf, "RandomHex: at most 64 bytes");
  TOKEN_ASSERT(RAND_bytes(buf, static_cast<int>(bytes)) == 1, "RAND_bytes failed");
  return Hex(buf, bytes);
}

Result<std::string> LoadClusterSecret(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument(
        fmt::format("cluster secret file {}: {}", path, std::strerror(errno)));
  }
  if ((st.st_mode & 007) != 0) {
    return Status::InvalidArgument(fmt::format(
        "cluster secret file {}: others may read or write it (mode {:o}); chmod o-rwx it", path,
        st.st_mode & 0777));
  }
  auto text = ReadFile(path, "cluster secret file");
  if (!text.ok()) return Status::InvalidArgument(text.status().message());
  std::string secret = std::move(text).value();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' ||
                             secret.back() == ' ' || secret.back() == '\t')) {
    secret.pop_back();
  }
  if (secret.size() < kMinSecretBytes || secret.size() > kMaxSecretBytes) {
    return Status::InvalidArgument(
        fmt::format("cluster secret file {}: {} bytes; a secret has {} to {} bytes (for "
                    "example 64 hex digits: openssl rand -hex 32)",
                    path, secret.size(), kMinSecretBytes, kMaxSecretBytes));
  }
  return secret;
}

Status WriteNewClusterSecret(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return Status::InvalidArgument(
        fmt::format("cannot create cluster secret file {}: {}", path, std::strerror(errno)));
  }
  const std::string secret = RandomHex(32) + "\n";
  if (::write(fd.get(), secret.data(), secret.size()) != static_cast<ssize_t>(secret.size())) {
    return Status::Internal(
        fmt::format("cannot write cluster secret file {}: {}", path, std::strerror(errno)));
  }
  return Status::Ok();
}

std::string MakePeerProofAt(std::string_view secret, std::string_view method,
                            std::string_view sender, std::string_view receiver,
                            std::string_view fingerprint, std::int64_t unix_ms,
                            std::string_view nonce) {
  return fmt::format("v1 {} {} {}", unix_ms, nonce,
                     Mac(secret, method, sender, receiver, fingerprint, unix_ms, nonce));
}

std::string MakePeerProof(std::string_view secret, std::string_view method, std::string_view sender,
                          std::string_view receiver, std::string_view fingerprint) {
  return MakePeerProofAt(secret, method, sender, receiver, fingerprint, UnixMs(), RandomHex(16));
}

PeerAuthenticator::PeerAuthenticator(std::string secret, std::string self, std::string fingerprint)
    : secret_(std::move(secret)), self_(std::move(self)), fingerprint_(std::move(fingerprint)) {}

Status PeerAuthenticator::Verify(std::string_view method, std::string_view sender,
                                 std::string_view proof) {
  // "v1 <unix-ms> <nonce: 32 hex> <mac: 64 hex>"
  constexpr std::size_t kNonceHex = 32, kMacHex = 64;
  if (proof.empty()) {
    return Status::PermissionDenied(
        "peer authentication failed: no proof of the cluster secret (x-token-auth); start "
        "every node with the same --cluster-secret-file");
  }
  const auto bad = [&](std::string_view why) {
    return Status::PermissionDenied(fmt::format("peer authentication failed: {}", why));
  };
  if (proof.size() > 128 || !proof.starts_with("v1 ")) return bad("malformed x-token-auth");
  std::string_view rest = proof.substr(3);
  const auto sp1 = rest.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp1 > 19) return bad("malformed x-token-auth");
  std::int64_t unix_ms = 0;
  for (char c : rest.substr(0, sp1)) {
    if (c < '0' || c > '9') return bad("malformed x-token-auth");
    unix_ms = unix_ms * 10 + (c - '0');
  }
  rest = rest.substr(sp1 + 1);
  if (rest.size() != kNonceHex + 1 + kMacHex || rest[kNonceHex] != ' ') {
    return bad("malformed x-token-auth");
  }
  const std::string_view nonce = rest.substr(0, kNonceHex);
  const std::string_view mac = rest.substr(kNonceHex + 1);
  if (!IsHex(nonce) || !IsHex(mac)) return bad("malformed x-token-auth");
  const std::string expected = Mac(secret_, method, sender, self_, fingerprint_, unix_ms, nonce);
  if (CRYPTO_memcmp(expected.data(), mac.data(), kMacHex) != 0) {
    return bad(
        "the proof does not match this node's cluster secret (another --cluster-secret-file, "
        "or a proof made for another call, sender or receiver)");
  }
  const std::int64_t now = UnixMs();
  const std::int64_t window = kAuthWindow.count();
  if (unix_ms < now - window || unix_ms > now + window) {
    return bad(
        fmt::format("the proof's time is {} ms from this node's clock (at most {} ms "
                    "allowed: are the clocks synchronised?)",
                    unix_ms - now, window));
  }
  std::lock_guard lock(mu_);
  if (now - last_purge_ms_ > 1000 || seen_.size() >= kMaxRememberedNonces) {
    std::erase_if(seen_, [&](const auto& e) { return e.second < now - window; });
    last_purge_ms_ = now;
  }
  if (seen_.size() >= kMaxRememberedNonces) {
    return bad("too many streams and calls opened within the window; try again later");
  }
  if (!seen_.emplace(std::string(nonce), unix_ms).second) {
    return bad("this proof was used before (a replayed x-token-auth)");
  }
  return Status::Ok();
}

}  // namespace token::net
