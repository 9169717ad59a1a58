#include "net_grpc/credentials.h"

#include <fmt/format.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

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

grpc::ChannelArguments DefaultChannelArguments() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  return args;
}

}  // namespace token::net
