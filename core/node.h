// Node: the read-impose write-majority protocol of one server node, as a pure state machine.
//
// Each token is a (1,N) atomic register over its replica set (writer + readers, see
// core/scheme.h). The node plays up to three roles per token: replica (stores the highest
// versioned value it has seen), writer coordinator (create/drop/write) and reader
// coordinator (read).
//
//   write at the writer: version = ++counter (arrival order); compute partial (a
//     ComputeRequest, unless low == mid); Update(version, value) to every replica; answer
//     after a quorum of UpdateAcks for this operation.
//   read at a reader: Query every replica; on a quorum of QueryReplies take the highest
//     version; impose it (Update to every replica, quorum of acks) unless fast read is on
//     and a quorum already reported that version; compute final (cached per version);
//     answer when both are done.
//   replica: adopts an Update only if its version is higher; acks either way.
//
// Contract with the driver: call one On* method per input, then act on every Output in the
// returned Outputs (deliver messages, answer clients, run computes) before the next call;
// the reference stays valid until the next call. Messages to the node itself are outputs
// like any other. There is no clock: client timeouts belong to the driver. A token crashed
// with OnCrash never produces another output: pending operations are dropped unanswered
// (fail-silent), later inputs for it are ignored; other tokens are untouched.
//
// Thread-safety: none; one driver thread owns a Node. Deterministic: the same inputs give
// the same outputs, in the same order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/messages.h"
#include "core/scheme.h"

namespace token {

// Planted bugs: named protocol variants that break atomicity on purpose, so tests and
// the fuzzer can show that the checker catches them. For the simulator and tests only:
// never the default, and the gRPC server refuses any value but kNone.
enum class Mutant : std::uint8_t {
  kNone = 0,
  kReadSkipsImpose,        // a read answers right after its query phase
  kWriteAnswersFirstAck,   // a write answers after the first ack, not a quorum
  kReadLocalOnly,          // a read answers from the coordinator's own replica only
  kMinorityQuorum,         // quorum floor(n/2) instead of floor(n/2) + 1
  kCountStaleAcks,         // answers of earlier operations count for the current one
  kAdoptAnyVersion,        // a replica adopts any Update, not only a higher version
  kFirstReplyWins,         // a read takes the first reply's value, not the highest
  kFastReadWithoutQuorum,  // the fast read skips the impose with one reply short of a quorum
};
inline constexpr Mutant kAllMutants[] = {Mutant::kReadSkipsImpose, Mutant::kWriteAnswersFirstAck,
                                         Mutant::kReadLocalOnly,   Mutant::kMinorityQuorum,
                                         Mutant::kCountStaleAcks,  Mutant::kAdoptAnyVersion,
                                         Mutant::kFirstReplyWins,  Mutant::kFastReadWithoutQuorum};
std::string_view MutantName(Mutant m);
// Parses a name from MutantName ("none" included); nullopt when unknown.
std::optional<Mutant> MutantFromName(std::string_view name);
std::string_view MutantDescription(Mutant m);

struct NodeOptions {
  // Skip the impose phase of a read when a quorum of replies already carry the highest
  // version (that version is then stored at a quorum already).
  bool fast_read = true;
  Mutant mutant = Mutant::kNone;
};

// Counters for logs and tests.
struct NodeStats {
  std::uint64_t messages_handled = 0;
  std::uint64_t messages_ignored = 0;  // late replies, crashed token, not a member, ...
  std::uint64_t reads_fast = 0;        // reads that skipped the impose
  std::uint64_t reads_imposed = 0;
  std::uint64_t final_cache_hits = 0;
  std::uint64_t operations_abandoned = 0;  // OnAbandon: the driver gave up waiting
};

class Node {
 public:
  // REQUIRES: self < scheme->nodes().size()
  Node(std::shared_ptr<const ReplicationScheme> scheme, NodeIndex self, NodeOptions options = {});

  const Outputs& OnClientRequest(const ClientRequest& request);
  const Outputs& OnMessage(const Message& message);
  const Outputs& OnComputeResult(const ComputeResult& result);
  const Outputs& OnCrash(TokenIndex token);
  // The driver gave up on request `request_id` (its caller's deadline passed or it went
  // away): the operation is forgotten and never answered; late replies for it are ignored.
  // Effects already sent (Updates of a write) stand. No-op when nothing is pending for it.
  const Outputs& OnAbandon(std::uint64_t request_id);

  NodeIndex self() const { return self_; }
  const ReplicationScheme& scheme() const { return *scheme_; }
  const NodeOptions& options() const { return options_; }
  const NodeStats& stats() const { return stats_; }

  // The replica's stored value of `token`; nullopt when this node is not a replica of it.
  std::optional<VersionedValue> Stored(TokenIndex token) const;
  bool IsCrashed(TokenIndex token) const;
  // Operations started here and not yet answered (dropped ones excluded).
  std::size_t pending_operations() const { return operations_.size(); }

 private:
  enum class Phase : std::uint8_t { kComputePartial, kQuery, kImpose, kDone };

  struct Operation {
    std::uint64_t request_id = 0;
    OpKind kind = OpKind::kRead;
    TokenIndex token = 0;
    Phase phase = Phase::kQuery;
    VersionedValue vv;                   // write: being written; read: highest seen / chosen
    std::vector<bool> answered;          // per position in the token's replica list
    std::size_t answers = 0;             // distinct answers in the current phase
    std::size_t answers_at_highest = 0;  // query phase: replies carrying vv.version
    bool waiting_final = false;          // read: final compute outstanding
    std::optional<HashPoint> final_point;
  };

  struct TokenState {
    bool crashed = false;
    VersionedValue stored;           // replica copy (meaningful when this node is a replica)
    std::uint64_t last_version = 0;  // writer's counter
    // Final argmin of the most recently computed version (reads of an unchanged value).
    std::optional<std::uint64_t> final_version;
    std::optional<HashPoint> final_point;
  };

  const Outputs& Begin();
  void ReplyError(const ClientRequest& request, Status status);
  void Reply(const Operation& op, Status status);
  void Broadcast(MessageType type, const Operation& op, std::uint64_t op_id);
  void StartUpdatePhase(std::uint64_t op_id, Operation& op);
  void OnQueryReply(const Message& m, std::uint64_t op_id, Operation& op);
  void OnUpdateAck(const Message& m, std::uint64_t op_id, Operation& op);
  // Records one distinct answer from m.from; false when it is a duplicate or a stranger.
  bool CountAnswer(const Message& m, Operation& op);
  void BeginReadCompletion(std::uint64_t op_id, Operation& op);
  void MaybeFinishRead(std::uint64_t op_id, Operation& op);
  Operation& Insert(std::uint64_t op_id, Operation op);
  void Finish(std::uint64_t op_id);
  std::size_t Quorum(TokenIndex token) const;
  bool Is(Mutant m) const { return options_.mutant == m; }

  std::shared_ptr<const ReplicationScheme> scheme_;
  NodeIndex self_;
  NodeOptions options_;
  std::vector<TokenState> tokens_;                        // by TokenIndex
  std::map<std::uint64_t, Operation> operations_;         // by op id; ordered for determinism
  std::map<std::uint64_t, std::uint64_t> op_by_request_;  // request id -> op id (pending)
  std::uint64_t next_op_id_ = 1;
  Outputs out_;
  NodeStats stats_;
};

}  // namespace token
