#include "net_grpc/credentials.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "base/text.h"
#include "core/file.h"

namespace token::net {
namespace {

Result<std::string> ReadPem(const std::string& path, const char* what) {
  if (path.empty()) {
    return Status::InvalidArgument(
        fmt::format("TLS needs all of --tls-cert, --tls-key and --tls-ca; {} is missing", what));
  }
  auto text = ReadFile(path, fmt::format("{} file", what));
  if (!text.ok()) return Status::InvalidArgument(text.status().message());
  if (text->find("-----BEGIN") == std::string::npos) {
    return Status::InvalidArgument(fmt::format("{}: not a PEM file ({})", path, what));
  }
  return std::move(text).value();
}

struct Pems {
  std::string cert, key, ca;
};

Result<Pems> ReadAll(const TlsFiles& tls) {
  auto cert = ReadPem(tls.cert, "certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(tls.key, "private key");
  if (!key.ok()) return key.status();
  auto ca = ReadPem(tls.ca, "CA certificate");
  if (!ca.ok()) return ca.status();
  return Pems{std::move(cert).value(), std::move(key).value(), std::move(ca).value()};
}

}  // namespace

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  auto pems = ReadAll(tls);
  if (!pems.ok()) return pems.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = pems.value().ca;
  options.pem_key_cert_pairs.push_back({pems.value().key, pems.value().cert});
  return grpc::SslServerCredentials(options);
}

Result<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsFiles& tls) {
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  auto pems = ReadAll(tls);
  if (!pems.ok()) return pems.status();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = pems.value().ca;
  options.pem_private_key = pems.value().key;
  options.pem_cert_chain = pems.value().cert;
  return grpc::SslCredentials(options);
}

Result<std::chrono::milliseconds> KeepaliveTime() {
  const char* text = std::getenv("TOKEN_KEEPALIVE_MS");
  if (text == nullptr) return kDefaultKeepaliveTime;
  std::int64_t ms = 0;
  const std::string_view v(text);
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
  if (ec != std::errc() || end != v.data() + v.size() || ms < kMinKeepaliveTime.count() ||
      ms > kMaxKeepaliveTime.count()) {
    return Status::InvalidArgument(
        fmt::format("TOKEN_KEEPALIVE_MS='{}': expected a number of milliseconds in {}..{}",
                    Abbreviate(v), kMinKeepaliveTime.count(), kMaxKeepaliveTime.count()));
  }
  return std::chrono::milliseconds(ms);
}

namespace {

// A bad TOKEN_KEEPALIVE_MS is refused where a process starts (NodeServer::Start); channels
// made elsewhere use the default.
int KeepaliveMs() {
  auto k = KeepaliveTime();
  return static_cast<int>((k.ok() ? k.value() : kDefaultKeepaliveTime).count());
}

}  // namespace

grpc::ChannelArguments DefaultChannelArguments() {
  const int keepalive = KeepaliveMs();
  grpc::ChannelArguments args;
  // A ping every `keepalive` ms, also on idle connections (an idle peer stream must stay
  // up), answered within half of it but at least 1 s (a busy machine answers late); the
  // servers accept pings twice as often (below).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, std::max(keepalive / 2, 1000));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // keep pinging an idle stream
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  // gRPC takes this as the time a connection attempt may take (TCP and the HTTP/2
  // handshake), not only as a backoff: at 50 ms a node busy with thousands of calls could
  // not finish a handshake in time, and new channels to it failed at once ("connection
  // attempt timed out before receiving SETTINGS frame"). A refused connection still fails
  // at once and is retried after the initial backoff.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2'000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return args;
}

void ConfigureServer(grpc::ServerBuilder& builder) {
  const int keepalive = KeepaliveMs();
  // Without these the server allows a ping without data only every 5 minutes and sends
  // GOAWAY (too_many_pings) after two that come sooner: idle peer streams died.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             std::max(keepalive / 2, 1));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
}

}  // namespace token::net
