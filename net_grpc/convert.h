// Mapping between the core's types (core/token.h, core/messages.h) and the wire types of
// proto/token.proto, and from core Status to grpc::Status. Pure functions, no state.
#pragma once

#include <grpcpp/support/status.h>

#include "base/status.h"
#include "core/messages.h"
#include "core/token.h"
#include "proto/token.pb.h"

namespace token::net {

void ToProto(const HashPoint& p, tokenmgr::v1::HashPoint* out);
HashPoint FromProto(const tokenmgr::v1::HashPoint& p);

void ToProto(const Domain& d, tokenmgr::v1::Domain* out);
Domain FromProto(const tokenmgr::v1::Domain& d);

void ToProto(const VersionedValue& vv, tokenmgr::v1::VersionedValue* out);
// INVALID_ARGUMENT for an unknown kind or data without a valid domain: peers' bytes are
// checked like clients' requests.
Result<VersionedValue> FromProto(const tokenmgr::v1::VersionedValue& vv);

tokenmgr::v1::PeerMessageType ToProto(MessageType t);
std::optional<MessageType> FromProto(tokenmgr::v1::PeerMessageType t);

// The reply of a successful client operation.
void ToProto(const ClientReply& r, tokenmgr::v1::TokenReply* out);

// Error messages are cut to this many bytes (base/text.h: Abbreviate).
inline constexpr std::size_t kMaxErrorMessageBytes = 1024;
grpc::Status ToGrpc(const Status& s);
// The core's code for a gRPC code; codes the core has no name for map to kInternal (their
// outcome is unknown).
StatusCode FromGrpc(grpc::StatusCode code);
// gRPC's name of a code ("DEADLINE_EXCEEDED"); "UNKNOWN" outside gRPC's 17 codes.
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace token::net
