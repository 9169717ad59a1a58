// The simulator's events and what it keeps per client process (sim/simulator.cc): the
// payloads its queue orders by time, and the digest that pins a run. Not for use outside
// the simulator.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "core/node.h"
#include "host/host.h"
#include "sim/scenario.h"

namespace sim::sim_detail {

using token::ClientReply;
using token::ClientRequest;
using token::Message;
using token::OpKind;
using token::host::CallId;
using token::host::JobId;

// Order-sensitive 64-bit digest of the run.
class Digest {
 public:
  void Add(std::uint64_t x) {
    h_ ^= x + 0x9E3779B97F4A7C15ULL + (h_ << 6) + (h_ >> 2);
    h_ *= 0xFF51AFD7ED558CCDULL;
    h_ ^= h_ >> 32;
  }
  void Add(std::string_view s) {
    Add(s.size());
    for (char c : s) Add(static_cast<unsigned char>(c));
  }
  void AddValue(const token::RegisterValue& v) {
    Add(static_cast<std::uint64_t>(v.kind()));
    if (v.has_data()) {
      const auto& d = v.data();
      Add(d.domain.name);
      Add(d.domain.low);
      Add(d.domain.mid);
      Add(d.domain.high);
      Add(d.partial ? d.partial->x : ~0ULL);
    }
  }
  std::uint64_t value() const { return h_; }

 private:
  std::uint64_t h_ = 0x243F6A8885A308D3ULL;
};

// The client operation an event descends from: `key` is its identity (the delays of the
// messages it causes are derived from it, Simulation::Delay), `request_id` names it in the
// message log (0 for a fault's effects). Every event that can make a node send carries one.
struct Origin {
  std::uint64_t key;
  std::uint64_t request_id;
};

struct DeliverMessage {
  Message message;
  Origin origin;
  // The incarnations of sender and receiver when it was sent: a restart of either ends
  // their connection, and what was on it is lost.
  std::uint32_t from_incarnation;
  std::uint32_t to_incarnation;
};
struct DeliverRequest {
  NodeIndex node;
  ClientRequest request;
  std::int64_t deadline_ns;  // when its client gives up
  Origin origin;
};
struct DeliverReply {
  ClientReply reply;
};
struct ComputeDone {
  NodeIndex node;
  std::uint32_t incarnation;
  JobId job;  // stale when it no longer runs (cancelled while it ran)
};
struct HostTimer {
  NodeIndex node;
  std::uint32_t incarnation;
  CallId call;
  Origin origin;
};
struct StorageDone {
  NodeIndex node;
  std::uint32_t incarnation;
  token::host::BatchId batch;
  Origin origin;
};
struct NodeUp {
  std::size_t fault;
};
struct ClientWake {
  std::uint32_t process;
};
struct ClientTimeout {
  std::uint32_t process;
  std::uint64_t request_id;
};
struct FaultEvent {
  std::size_t index;
};
using Payload = std::variant<DeliverMessage, DeliverRequest, DeliverReply, ComputeDone, HostTimer,
                             ClientWake, ClientTimeout, FaultEvent, StorageDone, NodeUp>;

struct QueueEntry {
  std::int64_t time;
  std::uint64_t seq;
  std::uint32_t slot;
  // std::push_heap builds a max-heap: "greater" puts the earliest event on top.
  bool operator<(const QueueEntry& o) const { return time != o.time ? time > o.time : seq > o.seq; }
};

struct Process {
  bool busy = false;
  std::uint64_t request_id = 0;  // of the outstanding operation
  std::uint64_t op_key = 0;      // identity of the outstanding operation (Delay)
  std::int64_t op_nominal_ns = 0;
  OpKind kind = OpKind::kRead;
  TokenIndex token = 0;
  NodeIndex node = 0;
  token::Domain domain;
  std::uint32_t retries = 0;  // of the current read
  std::uint64_t invoked = 0;  // operations invoked (retries included)
  std::vector<NodeIndex> tried;
  std::uint32_t generated_left = 0;
  std::uint32_t generated_done = 0;
  std::vector<const ScriptedOp*> script;  // sorted by time
  std::size_t script_next = 0;
};

}  // namespace sim::sim_detail
