#include "net_grpc/raw_codec.h"

#include <string>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/message_lite.h>

namespace token::net {

grpc::Status DecodeRequest(const grpc::ByteBuffer& in, google::protobuf::MessageLite* out) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (in.Valid() && in.Dump(&slices).ok()) {
    bytes.reserve(in.Length());
    for (const grpc::Slice& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  if (!out->ParseFromString(bytes)) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        fmt::format("undecodable request: {} bytes that are not a {} (malformed protobuf, or a "
                    "string field that is not UTF-8)",
                    bytes.size(), out->GetTypeName()));
  }
  return grpc::Status::OK;
}

grpc::Status EncodeReply(const grpc::Status& status, const google::protobuf::MessageLite& reply,
                         grpc::ByteBuffer* out) {
  if (!status.ok()) return status;
  std::string bytes;
  if (!reply.SerializeToString(&bytes)) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        fmt::format("cannot encode the reply ({})", reply.GetTypeName()));
  }
  grpc::Slice slice(bytes);
  *out = grpc::ByteBuffer(&slice, 1);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* ctx, const grpc::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace token::net
