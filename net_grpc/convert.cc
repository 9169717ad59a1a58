#include "net_grpc/convert.h"

#include <array>

#include <fmt/format.h>

#include "base/text.h"

namespace token::net {

namespace pb = tokenmgr::v1;

void ToProto(const HashPoint& p, pb::HashPoint* out) {
  out->set_x(p.x);
  out->set_hash(p.hash);
}

HashPoint FromProto(const pb::HashPoint& p) { return HashPoint{p.x(), p.hash()}; }

void ToProto(const Domain& d, pb::Domain* out) {
  out->set_name(d.name);
  out->set_low(d.low);
  out->set_mid(d.mid);
  out->set_high(d.high);
}

Domain FromProto(const pb::Domain& d) { return Domain{d.name(), d.low(), d.mid(), d.high()}; }

void ToProto(const VersionedValue& vv, pb::VersionedValue* out) {
  out->set_version(vv.version);
  switch (vv.value.kind()) {
    case ValueKind::kInitial:
      out->set_kind(pb::VALUE_INITIAL);
      break;
    case ValueKind::kEmpty:
      out->set_kind(pb::VALUE_EMPTY);
      break;
    case ValueKind::kDropped:
      out->set_kind(pb::VALUE_DROPPED);
      break;
    case ValueKind::kData: {
      out->set_kind(pb::VALUE_DATA);
      const TokenData& data = vv.value.data();
      ToProto(data.domain, out->mutable_domain());
      if (data.partial) ToProto(*data.partial, out->mutable_partial());
      break;
    }
  }
}

Result<VersionedValue> FromProto(const pb::VersionedValue& vv) {
  VersionedValue out;
  out.version = vv.version();
  switch (vv.kind()) {
    case pb::VALUE_INITIAL:
      if (vv.version() != 0) {
        return Status::InvalidArgument("the initial value must have version 0");
      }
      return out;
    case pb::VALUE_EMPTY:
      out.value = RegisterValue::Empty();
      return out;
    case pb::VALUE_DROPPED:
      out.value = RegisterValue::Dropped();
      return out;
    case pb::VALUE_DATA: {
      TokenData data;
      data.domain = FromProto(vv.domain());
      if (Status s = ValidateDomain(data.domain); !s.ok()) return s;
      if (vv.has_partial()) data.partial = FromProto(vv.partial());
      if (data.partial.has_value() != (data.domain.low < data.domain.mid)) {
        return Status::InvalidArgument("a partial argmin is present exactly when low < mid");
      }
      out.value = RegisterValue::Data(std::move(data));
      return out;
    }
    default:
      return Status::InvalidArgument(
          fmt::format("unknown value kind {}", static_cast<int>(vv.kind())));
  }
}

pb::PeerMessageType ToProto(MessageType t) {
  switch (t) {
    case MessageType::kQuery:
      return pb::QUERY;
    case MessageType::kQueryReply:
      return pb::QUERY_REPLY;
    case MessageType::kUpdate:
      return pb::UPDATE;
    case MessageType::kUpdateAck:
      return pb::UPDATE_ACK;
  }
  return pb::QUERY;
}

std::optional<MessageType> FromProto(pb::PeerMessageType t) {
  switch (t) {
    case pb::QUERY:
      return MessageType::kQuery;
    case pb::QUERY_REPLY:
      return MessageType::kQueryReply;
    case pb::UPDATE:
      return MessageType::kUpdate;
    case pb::UPDATE_ACK:
      return MessageType::kUpdateAck;
    default:
      return std::nullopt;
  }
}

void ToProto(const ClientReply& r, pb::TokenReply* out) {
  out->set_version(r.version);
  pb::VersionedValue vv;
  ToProto(VersionedValue{r.version, r.value}, &vv);
  out->set_kind(vv.kind());
  if (vv.has_domain()) *out->mutable_domain() = vv.domain();
  if (vv.has_partial()) *out->mutable_partial() = vv.partial();
  if (r.final_point) ToProto(*r.final_point, out->mutable_final());
}

grpc::Status ToGrpc(const Status& status) {
  // Bounded, so that an error repeating a caller's input never exceeds gRPC's metadata limit.
  const std::string msg = Abbreviate(status.message(), kMaxErrorMessageBytes);
  switch (status.code()) {
    case StatusCode::kOk:
      return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
    case StatusCode::kNotFound:
      return grpc::Status(grpc::StatusCode::NOT_FOUND, msg);
    case StatusCode::kFailedPrecondition:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, msg);
    case StatusCode::kUnavailable:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, msg);
    case StatusCode::kDeadlineExceeded:
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, msg);
    case StatusCode::kInternal:
      return grpc::Status(grpc::StatusCode::INTERNAL, msg);
    case StatusCode::kResourceExhausted:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, msg);
    case StatusCode::kCancelled:
      return grpc::Status(grpc::StatusCode::CANCELLED, msg);
    case StatusCode::kPermissionDenied:
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, msg);
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, msg);
}

StatusCode FromGrpc(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return StatusCode::kOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return StatusCode::kInvalidArgument;
    case grpc::StatusCode::NOT_FOUND:
      return StatusCode::kNotFound;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return StatusCode::kFailedPrecondition;
    case grpc::StatusCode::UNAVAILABLE:
      return StatusCode::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return StatusCode::kDeadlineExceeded;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return StatusCode::kResourceExhausted;
    case grpc::StatusCode::CANCELLED:
      return StatusCode::kCancelled;
    case grpc::StatusCode::PERMISSION_DENIED:
      return StatusCode::kPermissionDenied;
    default:
      return StatusCode::kInternal;
  }
}

const char* GrpcCodeName(grpc::StatusCode code) {
  static constexpr std::array<const char*, 17> kNames = {"OK",
                                                         "CANCELLED",
                                                         "UNKNOWN",
                                                         "INVALID_ARGUMENT",
                                                         "DEADLINE_EXCEEDED",
                                                         "NOT_FOUND",
                                                         "ALREADY_EXISTS",
                                                         "PERMISSION_DENIED",
                                                         "RESOURCE_EXHAUSTED",
                                                         "FAILED_PRECONDITION",
                                                         "ABORTED",
                                                         "OUT_OF_RANGE",
                                                         "UNIMPLEMENTED",
                                                         "INTERNAL",
                                                         "UNAVAILABLE",
                                                         "DATA_LOSS",
                                                         "UNAUTHENTICATED"};
  const auto i = static_cast<std::size_t>(code);
  return i < kNames.size() ? kNames[i] : "UNKNOWN";
}

}  // namespace token::net
