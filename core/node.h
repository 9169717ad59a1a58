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
// Durability (crash-recovery on top of crash-stop): what the node must keep across a
// restart leaves as TokenRecords in Outputs::writes, and the driver makes them durable
// before it lets out what depends on them (core/messages.h, Outputs). A replica's adopted
// value and a crash mark are written at once; the writer reserves versions in blocks
// (NodeOptions::reserve_versions) and resumes after its reservation when restarted. A node
// that lost its storage starts as a replacement and catches up from its peers (OnStart).
//
// Contract with the driver: call one On* method per input, then act on every Output in the
// returned Outputs (store writes, deliver messages, answer clients, run computes, in the
// order Outputs describes) before the next call;
// the reference stays valid until the next call. Messages to the node itself are outputs
// like any other. There is no clock: client timeouts belong to the driver. A token crashed
// with OnCrash never produces another output: pending operations are dropped unanswered
// (fail-silent), later inputs for it are ignored; other tokens are untouched.
//
// Thread-safety: none; one driver thread owns a Node. Deterministic: the same inputs give
// the same outputs, in the same order.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/messages.h"
#include "core/scheme.h"
#include "core/state_hash.h"

namespace token {

// Planted bugs: named protocol variants that break atomicity on purpose, so tests and
// the fuzzer can show that the checker catches them. For the simulator and tests only:
// never the default, and the gRPC server refuses any value but kNone.
enum class Mutant : std::uint8_t {
  kNone = 0,
  kReadSkipsImpose,
  kWriteAnswersFirstAck,
  kReadLocalOnly,
  kMinorityQuorum,
  kCountStaleAcks,
  kAdoptAnyVersion,
  kFirstReplyWins,
  kFastReadWithoutQuorum,
  kAckBeforeDurable,       // the host (host/host.h) lets replica answers leave before storage
  kWriterCounterInMemory,  // core: a restarted writer counts from 0, not its reservation
  kRejoinEmpty,            // core: a node that lost its storage serves at once, empty
  kOpIdsRestartAtOne,      // core: a restarted node numbers its operations from 1 again
};

// The one table of planted bugs: name (for --mutant and scenario files) and what it breaks.
struct MutantInfo {
  Mutant mutant;
  std::string_view name;
  std::string_view description;
  // The faults a run needs before this bug can show (restarts, lost storage).
  bool needs_restarts;
};
inline constexpr MutantInfo kMutants[] = {
    {Mutant::kReadSkipsImpose, "read-skips-impose",
     "a read answers right after its query phase, without the impose", false},
    {Mutant::kWriteAnswersFirstAck, "write-first-ack",
     "a write answers after the first ack instead of a quorum", false},
    {Mutant::kReadLocalOnly, "read-local-only",
     "a read answers from the coordinator's local replica only", false},
    {Mutant::kMinorityQuorum, "minority-quorum", "quorums of floor(n/2) instead of a majority",
     false},
    {Mutant::kCountStaleAcks, "count-stale-acks",
     "acks and replies of an earlier operation count for the current one", false},
    {Mutant::kAdoptAnyVersion, "adopt-any-version",
     "a replica adopts any Update, not only a higher version", false},
    {Mutant::kFirstReplyWins, "first-reply-wins",
     "a read returns the first reply's value instead of the highest version", false},
    {Mutant::kFastReadWithoutQuorum, "fast-read-without-quorum",
     "the fast read skips the impose one reply short of a quorum at the highest version", false},
    {Mutant::kAckBeforeDurable, "ack-before-durable",
     "a replica answers (acks, query replies) before its storage write is durable", true},
    {Mutant::kWriterCounterInMemory, "writer-counter-in-memory",
     "a restarted writer counts versions from 0 instead of after its durable reservation", true},
    {Mutant::kRejoinEmpty, "rejoin-empty",
     "a node that lost its storage serves at once with empty state, without catching up", true},
    {Mutant::kOpIdsRestartAtOne, "op-ids-restart-at-one",
     "a restarted node numbers its operations from 1 again, so a reply a peer held for its "
     "earlier process counts for a new operation",
     true},
};
// Every planted bug, in the table's order (derived from it: one list, not two).
inline constexpr auto kAllMutants = [] {
  std::array<Mutant, std::size(kMutants)> all{};
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = kMutants[i].mutant;
  return all;
}();
std::string_view MutantName(Mutant m);
// Parses a name from MutantName ("none" included); nullopt when unknown.
std::optional<Mutant> MutantFromName(std::string_view name);
std::string_view MutantDescription(Mutant m);
// Whether the bug can show only in runs with restarts or lost storage.
bool MutantNeedsRestarts(Mutant m);

// The first operation id of a node's `incarnation`-th process (0: its first): 2^40 ids
// each, so the processes of a node never share one (Node::OnStart).
constexpr std::uint64_t FirstOpIdOf(std::uint32_t incarnation) {
  return (std::uint64_t{incarnation} << 40) + 1;
}

// How a node starts (Node::OnStart).
enum class StartMode : std::uint8_t {
  kNew,          // first start, nothing stored: every token at its initial value
  kRestart,      // the records are everything it stored before: resume from them
  kReplacement,  // its storage is lost: catch every replicated token up from its peers
};
std::string_view StartModeName(StartMode mode);

struct NodeOptions {
  // Skip the impose phase of a read when a quorum of replies already carry the highest
  // version (that version is then stored at a quorum already).
  bool fast_read = true;
  // A writer reserves this many versions per storage write (a restarted writer resumes
  // after its reservation, so it never hands out a version twice).
  std::uint64_t reserve_versions = 1024;
  // The most values a write's domain [low, high) may hold (high - low). The writer refuses a
  // larger one INVALID_ARGUMENT before it takes a version, so no argmin ever runs over it:
  // every value of a domain costs one hash on the writer (the partial) and readers (the
  // final), about 50 ns on one core with SHA-NI, so the default (50,000,000) is about
  // 2.5 s of one core, inside the 5 s an operation waits by default.
  // (tokenserver --max-domain; the simulator keeps the default.)
  std::uint64_t max_domain = kDefaultMaxDomain;
  Mutant mutant = Mutant::kNone;

  static constexpr std::uint64_t kDefaultMaxDomain = 50'000'000;
};

// Counters for logs and tests.
struct NodeStats {
  std::uint64_t messages_handled = 0;
  std::uint64_t messages_ignored = 0;  // late replies, crashed token, not a member, ...
  std::uint64_t reads_fast = 0;        // reads that skipped the impose
  std::uint64_t reads_imposed = 0;
  std::uint64_t final_cache_hits = 0;
  std::uint64_t operations_abandoned = 0;  // OnAbandon: the driver gave up waiting
  std::uint64_t records_written = 0;       // TokenRecords in Outputs::writes
  std::uint64_t tokens_caught_up = 0;      // after a start as a replacement
};

class Node {
 public:
  // REQUIRES: self < scheme->nodes().size()
  Node(std::shared_ptr<const ReplicationScheme> scheme, NodeIndex self, NodeOptions options = {});

  // Called once, before any other input (a Node never started is a kNew one). kRestart:
  // `records` are the last record of each token stored before (tokens without one never
  // changed). kReplacement: `records` must be empty; every token this node replicates
  // is caught up from its peers before the node answers anything about it: the highest
  // value of a majority of the other replicas (of all of them for the tokens it writes,
  // so that it never reuses a version its lost counter handed out). Until then client
  // requests about the token are refused UNAVAILABLE and peers' messages go unanswered.
  // A token with no other replica has nobody to learn from: it stays refused.
  // `first_op_id`: the id of this process's first operation, the next ones count up from
  // it. Replies name the operation they answer by its id, and a peer may still hold replies
  // for an earlier process of this node (a reply waits for the peer's storage; a link
  // delivers what was queued): each process of a node must use ids no earlier one used,
  // or such a reply counts for a new operation (a read then returns a value older than a
  // completed write). Drivers that count processes use FirstOpIdOf(incarnation); the
  // real server draws a random start (net_grpc/node_server.cc).
  // REQUIRES: first_op_id >= 1
  const Outputs& OnStart(StartMode mode, const std::vector<TokenRecord>& records,
                         std::uint64_t first_op_id);
  // Sends the catch-up queries again to the peers that have not answered (the driver
  // calls it from a timer while catching_up() is true: a query or its reply may be lost).
  const Outputs& OnRetryCatchUp();
  const Outputs& OnClientRequest(const ClientRequest& request);
  const Outputs& OnMessage(const Message& message);
  const Outputs& OnComputeResult(const ComputeResult& result);
  const Outputs& OnCrash(TokenIndex token);
  // The driver gave up on request `request_id` (its caller's deadline passed or it went
  // away): the operation is forgotten and never answered; late replies for it are ignored.
  // Effects already sent (Updates of a write) stand. No-op when nothing is pending for it.
  const Outputs& OnAbandon(std::uint64_t request_id);

  // Whether OnMessage(m) would change nothing and send nothing, now and in every later
  // state of this process (a restart begins another process, which may differ): a message
  // about a token crashed here, a request from or to a node outside the token's replica
  // set, or an answer no operation of this process will count (its operation finished or
  // was abandoned, or it answers a phase the operation has left). The explorer drops such
  // messages in flight: delivering them at any time makes no difference.
  bool IgnoresForever(const Message& m) const;
  // When OnMessage(m) would change nothing here but send one answer, now and at any later
  // time in this process (a Query; an Update of a version the replica holds already or has
  // passed), that answer (a later one may carry a newer value); nullopt otherwise.
  std::optional<Message> OnlyAnswer(const Message& m) const;

  NodeIndex self() const { return self_; }
  const ReplicationScheme& scheme() const { return *scheme_; }
  const NodeOptions& options() const { return options_; }
  const NodeStats& stats() const { return stats_; }

  // The replica's stored value of `token`; nullopt when this node is not a replica of it.
  std::optional<VersionedValue> Stored(TokenIndex token) const;
  bool IsCrashed(TokenIndex token) const;
  // Some token still waits for answers to its catch-up (a start as a replacement). A
  // token whose only replica is this node cannot catch up: it stays refused, not counted.
  bool catching_up() const { return catching_up_ > 0; }
  // The record of `token` as this node would store it now.
  TokenRecord Record(TokenIndex token) const;
  // Operations started here and not yet answered (dropped ones excluded).
  std::size_t pending_operations() const { return operations_.size(); }
  // Feeds everything that decides this node's future outputs (not its stats) to `h`, with
  // node indices mapped through `rename` (core/state_hash.h). Equal inputs from equal
  // states hash alike; an explorer tells states apart by it.
  void HashState(StateHasher& h, NodeRename rename = {}) const;

 private:
  enum class Phase : std::uint8_t { kComputePartial, kQuery, kImpose, kDone, kCatchUp };

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
    VersionedValue stored;               // replica copy (meaningful when this node is a replica)
    std::uint64_t last_version = 0;      // writer's counter
    std::uint64_t reserved_through = 0;  // writer: durable bound of the counter
    bool catching_up = false;
    // Final argmin of the most recently computed version (reads of an unchanged value).
    std::optional<std::uint64_t> final_version;
    std::optional<HashPoint> final_point;
  };

  const Outputs& Begin();
  void ReplyError(const ClientRequest& request, Status status);
  // The refusal of a request this node cannot serve (unknown token, wrong role, bad
  // domain, catching up); nullopt when it may start.
  std::optional<Status> Refusal(const ClientRequest& request, TokenIndex t) const;
  void StartRead(std::uint64_t op_id, Operation op);
  void StartWriterOp(std::uint64_t op_id, Operation op, const ClientRequest& request);
  // The writer's next version of `token`, reserving a new block when the last runs out.
  std::uint64_t NextVersion(TokenIndex token);
  void Persist(TokenIndex token);
  void StartCatchUp(TokenIndex token);
  void SendCatchUpQueries(std::uint64_t op_id, const Operation& op);
  void OnCatchUpReply(const Message& m, std::uint64_t op_id, Operation& op);
  std::size_t CatchUpAnswersNeeded(TokenIndex token) const;
  void Reply(const Operation& op, Status status);
  void Broadcast(MessageType type, const Operation& op, std::uint64_t op_id);
  void StartUpdatePhase(std::uint64_t op_id, Operation& op);
  // The shared tests of OnMessage and the questions above.
  bool Drops(const Message& m) const;
  bool Silenced(const Message& m) const;
  bool RefusesRequest(const Message& m) const;
  bool AdoptsUpdate(const Message& m) const;
  // A replica's answer to request m (QueryReply or UpdateAck).
  Message AnswerTo(const Message& m) const;
  // The operation an answer counts for (operations_.end(): none).
  std::map<std::uint64_t, Operation>::const_iterator AnsweredOp(const Message& m) const;
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
  std::size_t catching_up_ = 0;  // catch-up operations in flight
  bool started_ = false;
  // The outputs of the input being handled. A copy of the node starts with none: they
  // belong to the call that made them (the explorer copies nodes between inputs).
  struct OutputsBuffer : Outputs {
    OutputsBuffer() = default;
    OutputsBuffer(const OutputsBuffer&) : Outputs() {}
    OutputsBuffer& operator=(const OutputsBuffer&) {
      clear();
      return *this;
    }
  };
  OutputsBuffer out_;
  NodeStats stats_;
};

}  // namespace token
