// Host: one protocol core Node and everything a node runs around it, the same code in the
// gRPC server (net_grpc/) and in the simulator (sim/).
//
// The host owns the Node and the calls in flight at it: it feeds each input to the core,
// then acts on every Output before the next input (messages to peers go to the transport,
// messages to itself are fed back at once, compute requests go to the compute runner,
// replies end their calls). Around the core it keeps what the core leaves to its driver:
//   - deadlines: a client call the core accepted ends with its reply, or with UNAVAILABLE
//     a little before the caller's deadline (GiveUpAt), or after op_timeout_ns when the
//     caller set none, saying why: its argmin was still computing, or no quorum answered;
//     op_timeout_ns never shortens a caller's own deadline;
//   - abandon: a caller that goes away (deadline passed, cancelled) makes the operation
//     forgotten in the core (Node::OnAbandon) and its compute job cancelled;
//   - held calls: a call about a token crashed here is never answered (fail-silent) and
//     ends only when its caller gives up; at most max_held_calls are held at the node and
//     at most max_calls_per_token calls about one token are in flight (held or waiting
//     for a quorum), at most max_calls in all; beyond a bound a call is refused with
//     RESOURCE_EXHAUSTED before it reaches the core, naming the bound;
//   - peer membership: a message about a token whose replica set does not hold its sender
//     changes nothing and is counted;
//   - storage order: the core's writes go to storage as one batch per input; every
//     message and reply of that input, and every Update, QueryReply and UpdateAck after
//     it, waits until the batch is durable, then leaves in the order it was made (a
//     replica's answer reports what it stores; a writer's Update may carry a version
//     reserved by an earlier input). Queries, and client replies of inputs that wrote
//     nothing, leave at once: they carry only what durable answers told them;
//   - start and catch-up: Start() restores the node from its records, and a node started
//     as a replacement retries its catch-up on a timer until every token is caught up.
//
// The host checks the core's contract as it acts (a node sends only as itself, a reply
// names a call in flight, so a request is answered at most once) and aborts loudly when it
// is broken.
//
// The world (host/world.h) comes in through interfaces; the host never asks which world it
// is in. Thread-safety: none; one thread owns a Host and makes every call into it.
// Deterministic: the same calls in the same order make the same calls into the world.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/fifo.h"
#include "core/node.h"
#include "host/world.h"

namespace token::host {

struct HostOptions {
  NodeOptions node;
  // How long an operation may wait for a quorum when its caller set no deadline.
  std::int64_t op_timeout_ns = 5'000'000'000;
  // A call the core accepted gives up before its caller's deadline, so that its answer
  // (UNAVAILABLE with the reason) reaches the caller in time: by 1/give_up_share of the
  // time the caller allowed, but at least give_up_min_margin_ns and at most
  // give_up_margin_ns, and never by more than half the time allowed. The defaults (a tenth,
  // at most 10 ms) suit the simulator, whose replies arrive in virtual time; real nodes
  // (net_grpc/) give up earlier.
  std::int64_t give_up_margin_ns = 10'000'000;
  std::int64_t give_up_min_margin_ns = 0;
  std::int64_t give_up_share = 10;
  // Calls held silently for tokens crashed here, at most this many at the node: beyond it,
  // a call that would be held is refused RESOURCE_EXHAUSTED (calls about healthy tokens
  // are not refused for it).
  std::size_t max_held_calls = 100'000;
  // Client calls in flight about one token at this node, held (the token crashed here) or
  // waiting at this coordinator for its quorum, at most this many: beyond it, a call about
  // that token is refused RESOURCE_EXHAUSTED before it reaches the core. One token in
  // trouble can thus hold only its share, and the node's other tokens keep serving.
  std::size_t max_calls_per_token = 1'000;
  // Client calls in flight at the node (held or waiting), at most this many.
  std::size_t max_calls = 200'000;
  // One line per client call answered (with the token's state here), through `log`.
  bool log_requests = false;
  // A node catching up (a replacement) asks again the peers that have not answered.
  std::int64_t catch_up_retry_ns = 200'000'000;
  // Where the host's lines go; null: nowhere.
  std::function<void(std::string_view line)> log;
};

struct HostStats {
  std::uint64_t client_calls = 0;
  std::uint64_t calls_refused_held_limit = 0;   // RESOURCE_EXHAUSTED: max_held_calls
  std::uint64_t calls_refused_token_limit = 0;  // RESOURCE_EXHAUSTED: max_calls_per_token
  std::uint64_t calls_refused_node_limit = 0;   // RESOURCE_EXHAUSTED: max_calls
  std::uint64_t calls_timed_out = 0;            // UNAVAILABLE: no quorum in time
  std::uint64_t calls_abandoned = 0;            // the caller went away
  std::uint64_t peer_messages_in = 0;
  std::uint64_t peer_messages_rejected = 0;  // undecodable, or from outside the replica set
  std::uint64_t computes_started = 0;
  std::uint64_t computes_cancelled = 0;
  std::uint64_t storage_batches = 0;       // Storage::Write calls
  std::uint64_t outputs_held_durable = 0;  // messages and replies that waited for storage
};

// When a call accepted at `now_ns` whose caller gives up at `deadline_ns` (nullopt: no
// deadline) gives up itself, by the options' margins (HostOptions).
std::int64_t GiveUpAt(const HostOptions& options, std::int64_t now_ns,
                      std::optional<std::int64_t> deadline_ns);

class Host {
 public:
  // REQUIRES: self < scheme->nodes().size(); every pointer in `world` set.
  Host(std::shared_ptr<const ReplicationScheme> scheme, NodeIndex self, HostOptions options,
       World world);
  // A copy of `other` (its node, calls in flight, jobs, outputs waiting for storage) that
  // acts on `world` from now on; `other` and its world are untouched. For drivers that
  // branch a node's state (the explorer, harness/explore.h). REQUIRES: `other` is not inside
  // one of its own calls.
  Host(const Host& other, World world);
  // Becomes a copy of `other`, a host of the same node, as the constructor above makes
  // one, but keeps its world and reuses its own storage where it can (the explorer makes
  // each successor's changed node in the last one's). REQUIRES: neither host is inside one
  // of its calls.
  void AssignState(const Host& other);

  // Starts the node from its storage (Node::OnStart, which says what `first_op_id` must
  // be); comes first, once. A host never started runs a new node whose ids start at 1.
  void Start(StartMode mode, const std::vector<TokenRecord>& records, std::uint64_t first_op_id);
  // A client's request. `deadline_ns`: when its caller gives up (nullopt: it set none).
  // REQUIRES: `call` is not in flight here.
  void OnClientCall(CallId call, ClientRequest request, std::optional<std::int64_t> deadline_ns);
  // A peer's unary Query or Update (m.to is this node): answered with the replica's reply.
  void OnPeerCall(CallId call, const Message& m);
  // A message from a peer's stream (m.to is this node).
  void OnPeerMessage(const Message& m);
  // A message from `from` that the world could not decode (about token id `token`, as
  // sent): counted as rejected, logged once per peer and token.
  void OnUndecodablePeerMessage(NodeIndex from, std::string_view token);
  // The caller of `call` went away (deadline passed, or cancelled): the operation is
  // abandoned and the call ends CANCELLED. No-op when the call has ended.
  void OnCallCancelled(CallId call);
  // A timer started through Clock::StartTimer fired.
  void OnTimer(CallId call);
  // Storage batches up to `batch` are durable: what waited for them leaves.
  void OnStorageDone(BatchId batch);
  // A job started through ComputeRunner::Start finished; ignored when it was cancelled.
  void OnComputeDone(JobId job, std::optional<HashPoint> best);
  // Crash-stop of `token` at this node: its calls fall silent and their jobs stop. Returns
  // whether it was crashed already.
  bool CrashToken(TokenIndex token);
  // Ends every call in flight (UNAVAILABLE: shutting down) and cancels every job.
  void Shutdown(std::string_view why);

  const Node& node() const { return node_; }
  NodeIndex self() const { return self_; }
  std::size_t held_calls() const { return held_; }
  // Client calls in flight about `token` (held or waiting).
  std::size_t calls_of_token(TokenIndex token) const {
    return token < calls_per_token_.size() ? calls_per_token_[token] : 0;
  }
  std::size_t calls_in_flight() const { return calls_.size(); }
  // Messages and replies waiting for storage.
  std::size_t outputs_waiting() const { return waiting_.size(); }
  const HostStats& stats() const { return stats_; }
  // Feeds everything that decides this host's future calls into the world to `h` (its
  // node, calls in flight, jobs, waiting outputs, storage progress; not stats, logs or
  // times), node indices mapped through `rename` (core/state_hash.h). Storage progress
  // counts relative to the last durable batch (batches_durable() is not fed): a driver
  // that hashes its storage's batch numbers too adds that.
  void HashState(StateHasher& h, NodeRename rename = {}) const;
  BatchId batches_durable() const { return batches_durable_; }

 private:
  // Every member copied (the public copy above then changes the world): a new member is
  // copied without anyone listing it.
  Host(const Host&) = default;
  Host& operator=(const Host&) = default;

  struct CallEntry {
    bool client = true;     // false: a peer's unary call
    ClientRequest request;  // client calls (request_id is the CallId)
    std::optional<TokenIndex> token;
    std::int64_t started_ns = 0;
    bool held = false;  // silent: the token crashed here
  };

  // An output that waits for storage batch `after` to be durable.
  struct Waiting {
    enum class Kind : std::uint8_t { kSend, kToSelf, kPeerAnswer, kClientReply };
    Kind kind = Kind::kSend;
    BatchId after = 0;
    Message message;  // kSend, kToSelf, kPeerAnswer
    CallId call = 0;  // kPeerAnswer
    ClientReply reply;
  };

  // Acts on the Node's outputs; messages to this node are fed back until none is left.
  void Act(const Outputs& out);
  void Take(const Outputs& out);
  // Whether a message of `type` made now must wait for storage; `wrote`: its input wrote.
  bool MustWait(bool wrote, MessageType type) const;
  void Release(const Waiting& w);
  void ArmCatchUpTimer();
  void Answer(const ClientReply& reply);
  // Forgets the operation of `call` in the core and stops its job.
  void Abandon(CallId call);
  void Hold(CallEntry& entry);
  // Erases a call and its counts (held, in flight, per token); returns its entry.
  CallEntry TakeCall(std::map<CallId, CallEntry>::iterator it);
  // The refusal of a client call by the bounds above; nullopt when it may start.
  std::optional<Status> Bound(const std::optional<TokenIndex>& token);
  void CancelJobOf(std::uint64_t request_id);
  // The job running for `request_id`, if any.
  const ComputeRequest* JobOf(std::uint64_t request_id) const;
  void Log(std::string_view line) const;
  void LogReply(const CallEntry& entry, const ClientReply& reply) const;

  std::shared_ptr<const ReplicationScheme> scheme_;
  NodeIndex self_;  // never changes (assigned only by AssignState, from the same node)
  std::string self_name_;
  HostOptions options_;
  World world_;
  Node node_;
  std::map<CallId, CallEntry> calls_;     // ordered: iteration reaches the world
  std::map<JobId, ComputeRequest> jobs_;  // running jobs (request_id: the call served)
  std::vector<Message> to_self_;
  std::size_t to_self_next_ = 0;
  bool acting_ = false;
  Fifo<Waiting> waiting_;  // in the order made; `after` never decreases
  BatchId batches_issued_ = 0;
  BatchId batches_durable_ = 0;
  bool answers_before_durable_;  // the planted bug Mutant::kAckBeforeDurable
  std::size_t held_ = 0;
  std::size_t client_calls_ = 0;                // client calls in flight
  std::vector<std::uint32_t> calls_per_token_;  // client calls in flight, by TokenIndex
  // Logged once each (at most kMaxRejectionsLogged pairs, then only counted).
  static constexpr std::size_t kMaxRejectionsLogged = 1024;
  std::set<std::pair<NodeIndex, std::string>> rejection_logged_;
  HostStats stats_;
};

}  // namespace token::host
