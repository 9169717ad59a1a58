// A scenario: everything one simulated run needs, so that a run replays from it alone.
//
// The replication scheme, the protocol options, the network model (a delay distribution
// plus per-link and per-node extra delays), the compute-time model of the argmin, the
// clients (scripted operations and/or a generated workload), the faults, the bounds of
// the run, and the expected outcome. Loaded from YAML by sim/scenario_yaml.h (format in
// docs/SCENARIOS.md); the fuzzer builds them in memory and writes them back as YAML.
//
// Times are virtual nanoseconds. NodeIndex and TokenIndex refer to `scheme`.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/messages.h"
#include "core/node.h"
#include "core/scheme.h"

namespace sim {

using token::NodeIndex;
using token::TokenIndex;

inline constexpr std::int64_t kForever = std::numeric_limits<std::int64_t>::max();
// A client's request and a node's reply take this long in a scheduled run (Scenario::schedule).
inline constexpr std::int64_t kScheduledHopNs = 1'000;

enum class DelayKind : std::uint8_t {
  kConstant,     // always `min_ns`
  kUniform,      // uniform in [min_ns, max_ns]
  kExponential,  // min_ns + exponential with mean `mean_ns`
  kLongTail,     // uniform in [min_ns, max_ns]; with probability tail_permille/1000, x tail_factor
};

struct DelayModel {
  DelayKind kind = DelayKind::kUniform;
  std::int64_t min_ns = 100'000;
  std::int64_t max_ns = 2'000'000;
  std::int64_t mean_ns = 1'000'000;
  std::uint32_t tail_permille = 10;
  std::uint32_t tail_factor = 100;
};

// Extra delay on messages from `from` to `to` (nullopt: any node) sent in [start_ns, end_ns).
struct LinkRule {
  std::optional<NodeIndex> from;
  std::optional<NodeIndex> to;
  std::int64_t extra_ns = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = kForever;
};

enum class FaultKind : std::uint8_t {
  kCrashToken,   // crash-stop of one token at one node, forever
  kCrashNode,    // crash-stop of every token at one node, forever
  kRestartNode,  // the node's process dies and comes back `down_ns` later
};

struct Fault {
  FaultKind kind = FaultKind::kCrashToken;
  std::int64_t at_ns = 0;
  NodeIndex node = 0;
  TokenIndex token = 0;  // kCrashToken only
  // kRestartNode: how long the node stays down; whether storage writes not yet synced
  // are lost (a power cut: some prefix of them survives, the rest is gone; false: the
  // process died but the machine kept what it was given); whether the node's storage is
  // lost altogether (a wiped or replaced disk: it comes back as a replacement).
  std::int64_t down_ns = 0;
  bool lose_unsynced = false;
  bool disk_lost = false;
};

// One client operation at a given time (the process waits for its previous one first).
struct ScriptedOp {
  std::int64_t at_ns = 0;
  std::uint32_t process = 0;
  token::OpKind kind = token::OpKind::kRead;
  TokenIndex token = 0;
  token::Domain domain;           // writes
  std::optional<NodeIndex> node;  // where to send it; default: writer, or a random reader
};

// A generated closed-loop workload: `clients` processes, each doing `ops_per_client`
// operations one after the other with a think time between them.
struct Workload {
  std::uint32_t clients = 0;
  std::uint32_t ops_per_client = 0;
  std::uint32_t read_permille = 500;
  std::vector<TokenIndex> tokens;  // empty: every token
  std::int64_t think_min_ns = 0;
  std::int64_t think_max_ns = 1'000'000;
  std::uint64_t domain_span = 64;  // high - low of generated writes is at most this
  // Of the writer's operations, this share are creates or drops (half each), which write
  // values that repeat (the empty value, the dropped marker); the rest are writes.
  std::uint32_t create_drop_permille = 0;
};

// One entry of an explicit schedule (Scenario::schedule): what happens at `at_ns`.
// `who` is a node (deliver, compute, sync) or a client process (give_up); `n` counts from 1.
struct ScheduleStep {
  enum class Kind : std::uint8_t {
    kDeliver,  // the n-th message node `who` sent (to a peer) arrives
    kCompute,  // the n-th argmin job node `who` started finishes
    kSync,     // the n-th storage sync node `who` started completes
    kGiveUp,   // client process `who` gives up its n-th operation (the call's deadline)
  };
  Kind kind = Kind::kDeliver;
  std::int64_t at_ns = 0;
  std::uint32_t who = 0;
  std::uint64_t n = 1;
};

enum class ExpectVerdict : std::uint8_t { kLinearizable, kViolation, kAny };

struct Expectation {
  ExpectVerdict verdict = ExpectVerdict::kLinearizable;
  bool all_complete = false;            // every operation completes ok (none info/pending)
  std::optional<std::uint64_t> min_ok;  // at least this many ok operations
  std::optional<std::uint64_t> max_ok;  // at most this many (e.g. 0 without a quorum)
  // Every operation whose coordinator never crashed for its token completes ok (meant for
  // runs within the fault budget: a quorum of every token stays up).
  bool liveness = false;
  // The run's digest (sim/simulator.h), pinned so that any change of behaviour shows: a
  // different digest is an unmet expectation. It holds for the seed and protocol variant
  // it was pinned with (the file's own); a run with another seed or mutant ignores it.
  struct PinnedDigest {
    std::uint64_t digest = 0;
    std::uint64_t seed = 0;
    token::Mutant mutant = token::Mutant::kNone;
  };
  std::optional<PinnedDigest> digest;
};

struct Scenario {
  std::string name;
  std::string description;
  std::uint64_t seed = 1;
  std::shared_ptr<const token::ReplicationScheme> scheme;
  token::NodeOptions node_options;
  DelayModel delay;
  std::vector<LinkRule> links;
  std::int64_t compute_ns_per_hash = 100;
  // Time from a storage write to its sync completing, drawn per write; one node's writes
  // complete in order.
  DelayModel storage_delay{DelayKind::kUniform, 20'000, 200'000, 100'000, 10, 100};
  std::int64_t client_timeout_ns = 5'000'000'000;
  bool retry_reads = true;
  // Each node holds at most this many silent calls (on tokens crashed there); beyond it a
  // call is refused RESOURCE_EXHAUSTED, as tokenserver --max-held-calls does.
  std::size_t max_held_calls = 100'000;
  // Each node has at most this many client calls about one token in flight (held, or
  // waiting for a quorum); beyond it a call about the token is refused RESOURCE_EXHAUSTED,
  // as tokenserver --max-calls-per-token does.
  std::size_t max_calls_per_token = 1'000;
  std::optional<Workload> workload;
  std::vector<ScriptedOp> ops;
  std::vector<Fault> faults;
  // An explicit schedule instead of drawn delays (a counterexample of `tokensim explore`):
  // every peer message, argmin job and storage sync happens exactly when an entry says (one
  // without an entry never happens), client requests and replies take kScheduledHopNs, a
  // client gives up only where an entry says, nodes never give up on their own (no margin
  // before the deadline, no catch-up retries), reads are not retried, a power cut keeps
  // no unsynced write, and restarted nodes come back after `down`. Absent: the drawn
  // delays of the network and storage models above.
  std::optional<std::vector<ScheduleStep>> schedule;
  std::int64_t max_time_ns = 3'600'000'000'000;  // one virtual hour
  std::uint64_t max_events = 50'000'000;
  Expectation expect;
};

}  // namespace sim
