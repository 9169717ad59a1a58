// The node decodes its requests itself (the services' methods are registered raw): gRPC's
// own decoding answers an undecodable request UNIMPLEMENTED with no message; here it gets
// INVALID_ARGUMENT saying what was expected. Replies are encoded the same way.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <grpcpp/grpcpp.h>

namespace google::protobuf {
class MessageLite;
}

namespace token::net {

// Parses `in` into `out`; INVALID_ARGUMENT naming the expected message type and the size
// when it is not one (malformed protobuf, or a string field that is not UTF-8).
grpc::Status DecodeRequest(const grpc::ByteBuffer& in, google::protobuf::MessageLite* out);
// `status`, with `reply` serialized into `out` when it is ok.
grpc::Status EncodeReply(const grpc::Status& status, const google::protobuf::MessageLite& reply,
                         grpc::ByteBuffer* out);
// A call refused at once with `status` (gRPC's default reactor).
grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* ctx, const grpc::Status& status);

}  // namespace token::net
