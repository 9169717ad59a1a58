// Exhaustive exploration of small configurations (`tokensim explore`): every interleaving of
// a bounded scenario, run with the same protocol core and host as the simulator and the real
// nodes.
//
// A state is the whole system: each node's host::Host (its core Node, calls in flight, jobs,
// outputs waiting for storage) with the world around it (its argmin worker, its disk), the
// messages in flight, the clients and what they saw. From a state every enabled step is
// tried, one at a time: deliver a message in flight (any of them, or the oldest of each link
// with `fifo`), a client invoking its next operation (at any reader for a read without a
// node), an argmin job finishing (each node runs its jobs in order, as the simulator's
// worker does), a storage sync completing (a step of its own when restarts are explored;
// otherwise each step ends with its node's writes durable), a per-token crash-stop or a
// restart within the fault budget, and a client giving up (a call held at a crashed token;
// any pending call with GiveUps::kAlways). Client requests and replies travel at once: an
// operation's interval only grows with them, which cannot hide a violation.
//
// States are fingerprinted (128 bits of everything that decides their future, via
// Host::HashState; the clients' history as each operation's outcome and the operations that
// finished before it started, which is all the checker looks at) and visited once,
// breadth-first, so the first violation found has a shortest path. With `symmetry`, nodes
// that play the same roles in every token (and that no operation names) are
// interchangeable: a state is fingerprinted as the least of its renamings. With `sleep_sets`
// (partial-order reduction), a step that commutes with one already explored from the same
// state (different nodes, neither a client's invocation, give-up or a restart) is not
// explored again after it; a state reached again with fewer sleeping steps is expanded
// again for the steps it had put to sleep (Godefroid's sleep sets with state caching).
//
// Safety: each time an operation completes, the history so far goes through the project's
// checker (checker/linearizability.h; verdicts memoised by the history's fingerprint).
// Liveness, when the fault budget keeps a quorum of every token (at most (n-1)/2 faults for
// n replicas): in every terminal state (no step enabled) no operation may still wait at a
// coordinator that is live for its token.
//
// Memory: the visited set holds a 16-byte fingerprint per unique state (24 bytes a slot,
// with the sleeping steps' names in a pool), never the state; each level keeps its states
// as the step from a parent in the level before (40 bytes), and a state is made
// again from its path when its level is expanded (one state per level at a time). So
// memory follows the number of unique states (130-160 bytes each at the peak, measured),
// bounded by max_memory_mb.
//
// Thread-safety: Explore is re-entrant; runs share nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/node.h"
#include "core/scheme.h"
#include "sim/scenario.h"

namespace tokensim {

struct ExploreOp {
  token::OpKind kind = token::OpKind::kRead;
  token::TokenIndex token = 0;
  token::Domain domain;                  // writes
  std::optional<token::NodeIndex> node;  // reads without one go to any reader (a branch each)
};

enum class GiveUps : std::uint8_t {
  kHeld,    // a client gives up only a call held silent at a crashed token
  kAlways,  // any pending call may be given up (explores the abandon paths)
  kNever,
};

struct ExploreProgress {
  std::uint64_t states = 0;  // successors generated
  std::uint64_t unique = 0;
  std::uint64_t depth = 0;
  std::uint64_t frontier = 0;
  double seconds = 0;
};

struct ExploreConfig {
  std::string name = "explore";
  std::shared_ptr<const token::ReplicationScheme> scheme;
  token::NodeOptions node_options;
  std::vector<std::vector<ExploreOp>> processes;  // each process runs its operations in order
  std::uint32_t crashes = 0;                      // per-token crash-stops, in all
  std::uint32_t restarts = 0;                     // node restarts, in all
  // The restarts tried: the process dies (unsynced writes kept), a power cut (unsynced
  // writes lost), a lost disk (the node comes back as a replacement).
  bool restart_plain = true;
  bool restart_power_cut = true;
  bool restart_disk_lost = true;
  GiveUps give_ups = GiveUps::kHeld;
  bool fifo = false;  // per-link FIFO delivery instead of any order
  bool sleep_sets = true;
  bool symmetry = true;
  // Drop dead messages: a message its receiver would ignore now and for the rest of its
  // process (token::Node::IgnoresForever), or a Query whose only effect is an answer its
  // coordinator would so ignore. Delivering one at any time changes nothing, so a state with
  // it and the state without it have the same futures. Only without restarts (a restart
  // begins another process, which may count what the last one ignored).
  bool drop_dead = true;
  // Client steps nothing can tell apart from later ones are taken at once (sound for the
  // checker, which lets an info operation take effect at any time after its invocation or
  // never, and ignores an info read): a call held silent at a crashed coordinator is given
  // up as soon as it is held (unless GiveUps::kNever); a client's next operation whose
  // coordinator is crashed for its token is invoked (held, given up) as soon as the client
  // is free, when it is a read pinned to that node or a write whose value no other write
  // of the token shares (its value can then never be read: it constrains nothing). And a
  // state whose clients have all finished ends its path (its history is complete).
  bool eager_clients = true;
  // Liveness is checked within the fault budget (above) by default; kAlways checks it
  // beyond (where it must fail: a way to see the check find a hung operation).
  enum class Liveness : std::uint8_t {
    kWithinBudget,
    kAlways,
    kOff
  } liveness = Liveness::kWithinBudget;
  // Bounds (0: none). max_depth: steps from the initial state; max_states: unique states.
  std::uint64_t max_depth = 0;
  std::uint64_t max_states = 0;
  std::uint64_t max_frontier = 0;
  // The search's own memory (visited set and levels), in MiB; at most 65,536.
  std::uint64_t max_memory_mb = 4096;
  double max_seconds = 0;
  // Threads that expand states (each level in chunks, merged in order: the search and its
  // result are the same for any number). At most 64.
  std::uint32_t threads = 1;
  std::function<void(const ExploreProgress&)> progress;  // about once a second
};

// A config from a scenario: its scheme, protocol options and scripted operations (each
// process's in time order; `at` is otherwise ignored). Faults, network, workload and
// expectations do not apply (the fault budget is the config's). INVALID_ARGUMENT for a
// scenario with a workload or no operations.
token::Result<ExploreConfig> ExploreConfigFromScenario(const sim::Scenario& scenario);

// The common shape: `replicas` nodes 127.0.0.1:50051.., `tokens` tokens each written by
// node t % replicas and read at every node; per token one writer client doing
// `ops_per_client` writes and `readers` reader clients doing as many reads each.
// REQUIRES: 1 <= replicas <= 16, 1 <= tokens <= 4, readers <= 8, 1 <= ops_per_client <= 8.
ExploreConfig ShapeConfig(std::uint32_t replicas, std::uint32_t tokens, std::uint32_t readers,
                          std::uint32_t ops_per_client);

// One step from a state.
struct ExploreStep {
  enum class Kind : std::uint8_t {
    kInvoke,   // process `a` invokes its next operation at node `b`
    kDeliver,  // the b-th message node `a` sent arrives
    kCompute,  // the running argmin job of node `a` finishes
    kSync,     // the storage sync running at node `a` completes
    kCrash,    // node `a` crash-stops for token `b`
    kRestart,  // node `a` restarts; b: 0 process died, 1 power cut, 2 disk lost
    kGiveUp,   // process `a` gives up its operation
  };
  Kind kind = Kind::kInvoke;
  std::uint32_t a = 0;
  std::uint64_t b = 0;
  friend bool operator==(const ExploreStep&, const ExploreStep&) = default;
};

struct ExploreResult {
  std::uint64_t states = 0;  // successors generated (with repeats)
  std::uint64_t unique = 0;  // distinct fingerprints
  std::uint64_t terminal = 0;
  std::uint64_t depth = 0;  // deepest level expanded
  std::uint64_t max_frontier = 0;
  std::uint64_t histories_checked = 0;
  double seconds = 0;
  bool exhausted = false;  // every reachable state visited (within max_depth, when set)
  std::string stopped_by;  // the bound that stopped it ("" when exhausted or a violation)
  bool liveness_checked = false;
  enum class Verdict : std::uint8_t { kNone, kSafety, kLiveness } verdict = Verdict::kNone;
  std::string violation;           // the checker's rule and sentence, or the hung operation
  std::vector<ExploreStep> path;   // a shortest path from the initial state to it
  std::vector<std::string> trace;  // the path, one line per step
  // The path as a scheduled scenario (its digest pinned) that `tokensim replay` runs.
  std::optional<sim::Scenario> counterexample;
  bool replay_fails = false;    // the simulator's run of it fails its expectation, too
  std::string replay_mismatch;  // what the simulator's judgement says
};

ExploreResult Explore(const ExploreConfig& config);

}  // namespace tokensim
