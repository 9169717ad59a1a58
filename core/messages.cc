#include "core/messages.h"

namespace token {

std::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kCreate:
      return "create";
    case OpKind::kDrop:
      return "drop";
    case OpKind::kWrite:
      return "write";
    case OpKind::kRead:
      return "read";
  }
  return "unknown";
}

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kQuery:
      return "Query";
    case MessageType::kQueryReply:
      return "QueryReply";
    case MessageType::kUpdate:
      return "Update";
    case MessageType::kUpdateAck:
      return "UpdateAck";
  }
  return "Unknown";
}

ClientReply ErrorReply(const ClientRequest& request, Status status) {
  TOKEN_ASSERT(!status.ok(), "an error reply carries an error");
  ClientReply r;
  r.request_id = request.request_id;
  r.kind = request.kind;
  r.status = std::move(status);
  return r;
}

}  // namespace token
