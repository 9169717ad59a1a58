// The inputs and outputs of the protocol core (core/node.h).
//
// Inputs: a ClientRequest (create, drop, write, read), a peer Message, a ComputeResult,
// or a crash of one token. Outputs: Messages to peers (possibly to the node itself),
// ClientReplies, and ComputeRequests for argmin work the driver runs off the protocol path.
//
// Peer messages name nodes and tokens by their index in the shared ReplicationScheme
// (core/scheme.h); drivers translate to and from addresses and token ids at their edges.
// Every message carries the operation id of the coordinator's operation it belongs to, so
// a late reply of an earlier operation is recognised and ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "core/scheme.h"
#include "core/token.h"

namespace token {

enum class OpKind : std::uint8_t { kCreate = 0, kDrop = 1, kWrite = 2, kRead = 3 };
std::string_view OpKindName(OpKind kind);
constexpr bool IsWriterOp(OpKind kind) { return kind != OpKind::kRead; }

// A client's request to the node. `request_id` is the driver's handle, echoed in the reply.
struct ClientRequest {
  std::uint64_t request_id = 0;
  OpKind kind = OpKind::kRead;
  std::string token;
  Domain domain;  // kWrite only
};

// The answer to one ClientRequest. On success: the version written or read, the value,
// and for reads of data the final argmin (the partial is inside value.data()).
struct ClientReply {
  std::uint64_t request_id = 0;
  OpKind kind = OpKind::kRead;
  Status status;
  std::uint64_t version = 0;
  RegisterValue value;
  std::optional<HashPoint> final_point;
};

// The reply refusing `request` with `status` (REQUIRES: !status.ok()).
ClientReply ErrorReply(const ClientRequest& request, Status status);

enum class MessageType : std::uint8_t {
  kQuery = 0,       // coordinator -> replica: send me your value
  kQueryReply = 1,  // replica -> coordinator: my value (vv)
  kUpdate = 2,      // coordinator -> replica: adopt vv if its version is higher
  kUpdateAck = 3,   // replica -> coordinator: done (always sent)
};
std::string_view MessageTypeName(MessageType type);
// A coordinator's request to a replica (Query, Update), as opposed to a replica's answer.
constexpr bool IsRequestType(MessageType type) {
  return type == MessageType::kQuery || type == MessageType::kUpdate;
}

struct Message {
  MessageType type = MessageType::kQuery;
  NodeIndex from = 0;
  NodeIndex to = 0;
  TokenIndex token = 0;
  std::uint64_t op_id = 0;
  VersionedValue vv;  // kQueryReply and kUpdate
};

// Argmin of H(name, ·) over [from, to) wanted by operation `compute_id`.
struct ComputeRequest {
  std::uint64_t compute_id = 0;
  TokenIndex token = 0;
  std::string name;
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  std::uint64_t request_id = 0;  // the client request it serves (to cancel abandoned work)
};

struct ComputeResult {
  std::uint64_t compute_id = 0;
  std::optional<HashPoint> best;
};

// Everything one input caused. Drivers act on all of it before the next input.
// What a node keeps on storage about one token, written whole whenever it changes: the
// replica's copy, the writer's reservation (versions up to `reserved_through` may be handed
// out with no further write), the crash mark (a crashed token stays silent across
// restarts), and whether the node still has to catch the token up from its peers (it lost
// its storage and has not heard from enough of them yet).
struct TokenRecord {
  TokenIndex token = 0;
  VersionedValue stored;
  std::uint64_t reserved_through = 0;
  bool crashed = false;
  bool catching_up = false;

  friend bool operator==(const TokenRecord&, const TokenRecord&) = default;
};

// Everything one input makes the node do. `writes` go to storage first: every message
// and reply in the same Outputs leaves only once they are durable, and so does every
// replica answer (QueryReply, UpdateAck) of any later input until then (a replica tells
// others only what a crash cannot take back).
struct Outputs {
  std::vector<Message> messages;
  std::vector<ClientReply> replies;
  std::vector<ComputeRequest> computes;
  std::vector<TokenRecord> writes;

  bool empty() const {
    return messages.empty() && replies.empty() && computes.empty() && writes.empty();
  }
  void clear() {
    messages.clear();
    replies.clear();
    computes.clear();
    writes.clear();
  }
};

}  // namespace token
