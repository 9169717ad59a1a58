// The world as a Host (host/host.h) sees it: a clock with timers, a transport to peers and
// clients, a runner for argmin work, and storage for what must survive a restart.
//
// Each world implements these once: the gRPC server (net_grpc/) with a steady clock, an
// executor's timers, peer streams, callback reactors and a thread pool; the simulator
// (sim/) with a virtual clock, its event queue, a seeded network and a modelled compute
// worker. The host never asks which world it is in.
//
// Contract: every call a world makes into its Host (Host::On*) happens on the one thread
// that owns the host, never from inside a call the host made into the world (a world
// queues what the host asks and delivers results later, as its own events). The host calls
// these interfaces only from inside its own On* methods.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "core/messages.h"

namespace token::host {

// A call in flight at this node: a client's request, or a peer's unary Query/Update. The
// world chooses the ids; they are unique among the calls in flight at one host.
using CallId = std::uint64_t;
// An argmin job: the core's ComputeRequest::compute_id (unique per node).
using JobId = std::uint64_t;
// The host's own timer (catch-up retries): a world never uses this id for a call.
inline constexpr CallId kHostTimer = ~CallId{0};
// A storage write: batches are numbered 1, 2, 3, ... in the order the host hands them out.
using BatchId = std::uint64_t;

// Time in nanoseconds on the world's monotonic clock, and timers on it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t NowNs() const = 0;
  // Calls Host::OnTimer(call) at or after `at_ns`. Timers are never cancelled: the host
  // ignores one whose call has ended.
  virtual void StartTimer(std::int64_t at_ns, CallId call) = 0;
};

// Messages to peers and answers to callers.
class Transport {
 public:
  virtual ~Transport() = default;
  // A protocol message to another node (m.from is this node, m.to is not). It may be lost
  // or delayed: the protocol tolerates both.
  virtual void Send(const Message& m) = 0;
  // Ends client call `call`. `reply.status` is the outcome: ok with the reply's fields, an
  // error of the core (NOT_FOUND, FAILED_PRECONDITION, ...) or of the host (UNAVAILABLE
  // when no quorum answered in time, RESOURCE_EXHAUSTED, CANCELLED, shutting down).
  virtual void AnswerClient(CallId call, const ClientReply& reply) = 0;
  // Ends a peer's unary call with the replica's answer (a QueryReply or an UpdateAck), or
  // with the error that refused it.
  virtual void AnswerPeer(CallId call, const Result<Message>& reply) = 0;
};

// Runs argmin work off the protocol path; the result comes back as Host::OnComputeDone.
class ComputeRunner {
 public:
  virtual ~ComputeRunner() = default;
  virtual void Start(JobId job, const ComputeRequest& request) = 0;
  // The job's caller is gone: stop its work if it can. OnComputeDone may still arrive for
  // it; the host ignores it.
  virtual void Cancel(JobId job) = 0;
};

// Durable storage of the node's TokenRecords (core/messages.h): the last record written
// for a token is its state after a restart.
class Storage {
 public:
  virtual ~Storage() = default;
  // Makes `records` durable (after every earlier batch), then calls
  // Host::OnStorageDone(batch). Completions come in batch order; a world may report
  // several batches with one call for the last of them (one sync covers them all). A
  // batch not yet reported may be lost by a crash, in whole or from some record on, never
  // in part of a record.
  virtual void Write(BatchId batch, std::vector<TokenRecord> records) = 0;
};

// What a host is given. The pointers are borrowed and outlive the host.
struct World {
  Clock* clock = nullptr;
  Transport* transport = nullptr;
  ComputeRunner* compute = nullptr;
  Storage* storage = nullptr;
};

}  // namespace token::host
