#include "net_grpc/client.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/address.h"

namespace token::net {

namespace pb = tokenmgr::v1;

namespace {

void SetDeadline(grpc::ClientContext* ctx, TokenClient::Timeout timeout) {
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
}

template <typename Reply>
CallResult<Reply> Error(grpc::StatusCode code, std::string message, std::string node = "") {
  CallResult<Reply> r;
  r.status = grpc::Status(code, std::move(message));
  r.node = std::move(node);
  return r;
}

bool ShouldFailOver(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

}  // namespace

Result<std::unique_ptr<TokenClient>> TokenClient::ForScheme(
    std::shared_ptr<const ReplicationScheme> scheme, const TlsFiles& tls) {
  auto credentials = MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  return std::unique_ptr<TokenClient>(
      new TokenClient(std::move(scheme), "", std::move(credentials).value()));
}

Result<std::unique_ptr<TokenClient>> TokenClient::ForServer(const std::string& address,
                                                            const TlsFiles& tls) {
  // A port out of range is an error here, never taken modulo 65536 (or as 0) by the resolver.
  if (auto parsed = ParseServerAddress(address); !parsed.ok()) return parsed.status();
  auto credentials = MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  return std::unique_ptr<TokenClient>(
      new TokenClient(nullptr, address, std::move(credentials).value()));
}

TokenClient::TokenClient(std::shared_ptr<const ReplicationScheme> scheme, std::string server,
                         std::shared_ptr<grpc::ChannelCredentials> credentials)
    : scheme_(std::move(scheme)),
      server_(std::move(server)),
      credentials_(std::move(credentials)),
      random_(std::random_device{}()) {}

std::shared_ptr<grpc::Channel> TokenClient::ChannelTo(const std::string& address) {
  std::lock_guard lock(mu_);
  auto& channel = channels_[address];
  if (!channel) {
    channel = grpc::CreateCustomChannel(address, credentials_, DefaultChannelArguments());
  }
  return channel;
}

std::vector<std::string> TokenClient::Nodes() const {
  if (!scheme_) return {server_};
  return scheme_->nodes();
}

Result<std::string> TokenClient::WriterOf(const std::string& id) const {
  if (!scheme_) return server_;
  auto t = scheme_->FindToken(id);
  if (!t) {
    return Status::NotFound(
        fmt::format("unknown token '{}': it is not in the replication scheme", id));
  }
  return scheme_->node(scheme_->token(*t).writer);
}

template <typename Request>
CallResult<pb::TokenReply> TokenClient::Call(const std::string& node, const Request& request,
                                             Timeout timeout) {
  auto stub = pb::TokenManager::NewStub(ChannelTo(node));
  CallResult<pb::TokenReply> r;
  r.node = node;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout);
  if constexpr (std::is_same_v<Request, pb::CreateRequest>) {
    r.status = stub->Create(&ctx, request, &r.reply);
  } else if constexpr (std::is_same_v<Request, pb::DropRequest>) {
    r.status = stub->Drop(&ctx, request, &r.reply);
  } else if constexpr (std::is_same_v<Request, pb::WriteRequest>) {
    r.status = stub->Write(&ctx, request, &r.reply);
  } else {
    r.status = stub->Read(&ctx, request, &r.reply);
  }
  return r;
}

CallResult<pb::TokenReply> TokenClient::Create(const std::string& id, Timeout timeout) {
  auto node = WriterOf(id);
  if (!node.ok())
    return Error<pb::TokenReply>(grpc::StatusCode::NOT_FOUND, node.status().message());
  pb::CreateRequest request;
  request.set_id(id);
  return Call(node.value(), request, timeout);
}

CallResult<pb::TokenReply> TokenClient::Drop(const std::string& id, Timeout timeout) {
  auto node = WriterOf(id);
  if (!node.ok())
    return Error<pb::TokenReply>(grpc::StatusCode::NOT_FOUND, node.status().message());
  pb::DropRequest request;
  request.set_id(id);
  return Call(node.value(), request, timeout);
}

CallResult<pb::TokenReply> TokenClient::Write(const std::string& id, const Domain& domain,
                                              Timeout timeout) {
  auto node = WriterOf(id);
  if (!node.ok())
    return Error<pb::TokenReply>(grpc::StatusCode::NOT_FOUND, node.status().message());
  if (Status s = ValidateDomain(domain); !s.ok()) {
    // Refused here, before it reaches the network (the coordinator refuses it too).
    return Error<pb::TokenReply>(grpc::StatusCode::INVALID_ARGUMENT, s.message());
  }
  pb::WriteRequest request;
  request.set_id(id);
  request.set_name(domain.name);
  request.set_low(domain.low);
  request.set_mid(domain.mid);
  request.set_high(domain.high);
  return Call(node.value(), request, timeout);
}

CallResult<pb::TokenReply> TokenClient::Read(const std::string& id, Timeout timeout) {
  pb::ReadRequest request;
  request.set_id(id);
  if (!scheme_) return Call(server_, request, timeout);
  auto t = scheme_->FindToken(id);
  if (!t) {
    return Error<pb::TokenReply>(
        grpc::StatusCode::NOT_FOUND,
        fmt::format("unknown token '{}': it is not in the replication scheme", id));
  }
  std::vector<NodeIndex> readers = scheme_->token(*t).readers;
  {
    std::lock_guard lock(mu_);
    std::shuffle(readers.begin(), readers.end(), random_);
  }
  // Each reader gets an equal share of the time, so a silent one leaves time for the rest.
  const Timeout share = std::max<Timeout>(Timeout(1), timeout / static_cast<int>(readers.size()));
  CallResult<pb::TokenReply> last;
  std::string tried;
  for (NodeIndex n : readers) {
    last = Call(scheme_->node(n), request, share);
    if (!ShouldFailOver(last.status)) return last;
    tried += (tried.empty() ? "" : ", ") + scheme_->node(n);
  }
  last.status = grpc::Status(last.status.error_code(),
                             fmt::format("no reader of token '{}' answered in time (tried {}): {}",
                                         id, tried, last.status.error_message()));
  return last;
}

CallResult<pb::CrashTokenReply> TokenClient::CrashToken(const std::string& node,
                                                        const std::string& id, Timeout timeout) {
  const std::string target = node.empty() ? server_ : node;
  if (target.empty()) {
    return Error<pb::CrashTokenReply>(grpc::StatusCode::INVALID_ARGUMENT,
                                      "crash needs the node (--node IP:PORT)");
  }
  if (auto parsed = ParseServerAddress(target); !parsed.ok()) {
    return Error<pb::CrashTokenReply>(grpc::StatusCode::INVALID_ARGUMENT,
                                      parsed.status().message());
  }
  auto stub = pb::Admin::NewStub(ChannelTo(target));
  CallResult<pb::CrashTokenReply> r;
  r.node = target;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout);
  pb::CrashTokenRequest request;
  request.set_id(id);
  r.status = stub->CrashToken(&ctx, request, &r.reply);
  return r;
}

CallResult<pb::StatusReply> TokenClient::NodeStatus(const std::string& node, Timeout timeout) {
  if (auto parsed = ParseServerAddress(node); !parsed.ok()) {
    return Error<pb::StatusReply>(grpc::StatusCode::INVALID_ARGUMENT, parsed.status().message(),
                                  node);
  }
  auto stub = pb::Admin::NewStub(ChannelTo(node));
  CallResult<pb::StatusReply> r;
  r.node = node;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout);
  r.status = stub->Status(&ctx, pb::StatusRequest{}, &r.reply);
  return r;
}

}  // namespace token::net
