#include "net_grpc/health.h"

#include <thread>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "proto/health.grpc.pb.h"
#include "proto/token.grpc.pb.h"

namespace token::net {

Status WaitUntilServing(const std::string& address, std::chrono::milliseconds limit,
                        const TlsFiles& tls) {
  auto credentials = MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  const auto end = std::chrono::steady_clock::now() + limit;
  std::string last = "no answer";
  for (;;) {
    // A fresh channel per probe: a channel that saw "connection refused" waits out its
    // reconnect backoff, which would delay readiness by seconds.
    grpc::ChannelArguments args = DefaultChannelArguments();
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateCustomChannel(address, credentials.value(), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status s = stub->Check(&ctx, grpc::health::v1::HealthCheckRequest{}, &response);
    if (s.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return Status::Ok();
    }
    last =
        s.ok() ? fmt::format("status {}", static_cast<int>(response.status())) : s.error_message();
    if (std::chrono::steady_clock::now() >= end) {
      return Status::Unavailable(
          fmt::format("{} not serving after {} ms ({})", address, limit.count(), last));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Result<std::uint64_t> ServingPid(const std::string& address, std::chrono::milliseconds limit,
                                 const TlsFiles& tls) {
  auto credentials = MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args = DefaultChannelArguments();
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub =
      tokenmgr::v1::Admin::NewStub(grpc::CreateCustomChannel(address, credentials.value(), args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + limit);
  tokenmgr::v1::StatusReply reply;
  const grpc::Status s = stub->Status(&ctx, tokenmgr::v1::StatusRequest{}, &reply);
  if (!s.ok()) {
    return Status::Unavailable(
        fmt::format("{} does not answer the node status call ({})", address, s.error_message()));
  }
  return reply.pid();
}

}  // namespace token::net
