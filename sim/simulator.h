// The deterministic discrete-event simulator: core Nodes, a virtual clock, a seeded
// network that delays and reorders messages, per-token and whole-node crash-stops, a
// compute-time model for the argmin, and simulated client processes.
//
// One thread; the clock jumps to the next event; events are ordered by (time, sequence
// number); every random choice comes from one sim::Random seeded by the run's seed. The
// same scenario and seed give the same run bit for bit: the digest (a hash of every event
// processed, in order, with its fields) says so in 16 hex digits.
//
// Clients: each process has at most one operation outstanding. Writes go to the token's
// writer, reads to a reader chosen with the seed (or the node a scripted operation names).
// A reply that does not arrive within the client timeout makes the operation `info`; a
// timed-out read is then retried at another reader when the scenario allows it.
//
// Thread-safety: RunSimulation is re-entrant; runs share nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checker/history_writer.h"
#include "sim/scenario.h"

namespace sim {

// What a client saw: one line of the history (docs/FORMATS.md).
struct HistoryEvent {
  using Type = checker::LineType;  // invoke, ok, fail, info
  Type type = Type::kInvoke;
  std::uint32_t process = 0;
  token::OpKind kind = token::OpKind::kRead;
  TokenIndex token = 0;
  std::int64_t time_ns = 0;
  NodeIndex node = 0;          // the node the operation was sent to
  token::RegisterValue value;  // write: written (invoke and ok); read: read (ok)
  bool has_version = false;
  std::uint64_t version = 0;
  std::optional<token::HashPoint> final_point;  // reads of data
  std::string error;                            // fail: the status message
};

struct SimStats {
  std::uint64_t events = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_delivered = 0;
  std::uint64_t computes = 0;
  std::uint64_t computes_cancelled = 0;  // their callers gave up or their token crashed
  std::uint64_t ops_invoked = 0;
  std::uint64_t ops_ok = 0;
  std::uint64_t ops_fail = 0;
  std::uint64_t ops_info = 0;     // timed out
  std::uint64_t ops_pending = 0;  // still outstanding when the run ended
  std::uint64_t read_retries = 0;
  // From the nodes' hosts at the end of the run.
  std::uint64_t calls_abandoned = 0;        // callers that gave up while the node worked
  std::uint64_t calls_timed_out = 0;        // the node gave up first (UNAVAILABLE)
  std::uint64_t calls_refused_held = 0;     // RESOURCE_EXHAUSTED: held-call limit
  std::uint64_t calls_in_flight_end = 0;    // calls still open at the end (held ones included)
  std::uint64_t operations_open_end = 0;    // operations the cores still track at the end
  std::uint64_t restarts = 0;               // restart faults that took a node down
  std::uint64_t messages_lost_restart = 0;  // on a connection a restart ended
  std::uint64_t storage_batches = 0;        // storage writes of the hosts
  std::uint64_t records_lost = 0;           // unsynced records a power cut took
  std::int64_t end_time_ns = 0;
  bool hit_time_limit = false;
  bool hit_event_limit = false;
};

struct SimResult {
  std::vector<HistoryEvent> history;
  // Every operation the clients started (retries excluded), as scripted operations with
  // their node: a scenario with these instead of its workload replays the same clients.
  std::vector<ScriptedOp> script;
  SimStats stats;
  std::uint64_t digest = 0;
};

// One message of a run, for reports that draw them (a Lamport diagram).
struct MessageRecord {
  enum class Kind : std::uint8_t {
    kRequest,  // client process `from` -> node `to`; `type` is the token::OpKind
    kReply,    // node `from` -> client process `to`; `type` 0 ok, 1 fail
    kNode,     // node `from` -> node `to`; `type` is the token::MessageType
  };
  Kind kind = Kind::kNode;
  std::uint8_t type = 0;
  TokenIndex token = 0;
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  std::int64_t sent_ns = 0;
  std::int64_t arrives_ns = 0;   // may lie after the run's end: never delivered
  std::uint64_t version = 0;     // the version it carries (0 for requests)
  std::uint64_t request_id = 0;  // the client request it descends from (0: none, a fault's)
};

// Receives one human-readable line per event when a trace is wanted.
using TraceSink = std::function<void(std::string_view line)>;

// REQUIRES: the scenario is valid (as sim/scenario_yaml.h and the fuzzer build them).
// With `messages`, every message sent is appended to it (recording does not change the
// run).
SimResult RunSimulation(const Scenario& scenario, const TraceSink& trace = nullptr,
                        std::vector<MessageRecord>* messages = nullptr);

// The history as JSON Lines (docs/FORMATS.md), with `node` and `final` as extra fields.
std::string HistoryToJsonl(const Scenario& scenario, const std::vector<HistoryEvent>& history);

// "0123456789abcdef"
std::string DigestHex(std::uint64_t digest);

}  // namespace sim
