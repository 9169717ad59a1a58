// PeerLink: the outgoing half of the connection from this node to one peer over gRPC, used
// with TLS or --peer-transport grpc (otherwise SocketLink, peer_socket.h, carries the
// messages).
//
// Protocol messages for the peer are added on the executor thread and leave in batches on
// one long-lived client stream (Replica.Deliver): while a write is in flight, new messages
// gather into the next batch, so the number of writes adapts to the load. A batch holds at
// most kPeerBatchBytes (or a single larger message), well below the transport's message
// limit (kMaxMessageBytes, credentials.h), so large values never break the stream. The stream names
// this node and the scheme's fingerprint in its metadata, and with a cluster secret a
// fresh proof of it (peer_auth.h); the peer checks them all.
//
// A broken stream (peer down, restarted, or refusing us) is reopened on a later Flush, no
// sooner than a backoff (50 ms doubling to 1 s). When the peer shows it is up again (it
// opened a stream to us: PeerIsUp), the backoff ends at once, the channel's included, and
// the next stream waits for the connection rather than failing on the channel's stale
// state (one that is still waiting after 2 s is cancelled by a later Flush), so a
// restarted peer's first operation hears our answers. Messages flushed
// while no stream is open are dropped and counted: to the protocol that is message loss, which it
// tolerates (the operation waits for other replicas or ends at its caller's deadline).
//
// Thread-safety: Add and Flush on the executor thread only; the stream's reactions run on
// gRPC threads and share state with Flush under a mutex. Close (any thread but a reaction)
// cancels the stream and waits for its OnDone.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "net_grpc/credentials.h"
#include "proto/token.grpc.pb.h"

namespace token::net {

// What a node's world sends to one peer with, whatever carries the messages: PeerLink
// (a gRPC stream) or SocketLink (a peer socket of our own, peer_socket.h). Messages are
// added on the executor thread and leave in batches of at most kPeerBatchBytes (or a
// single larger message) on Flush.
class PeerSender {
 public:
  using Logger = std::function<void(const std::string&)>;

  PeerSender(std::string peer, Logger log) : peer_(std::move(peer)), log_(std::move(log)) {}
  virtual ~PeerSender() = default;
  PeerSender(const PeerSender&) = delete;
  PeerSender& operator=(const PeerSender&) = delete;

  // Executor thread only. A message larger than kMaxPeerMessageBytes is dropped (counted
  // and logged): it could never cross the transport, and sending it would end the stream.
  void Add(tokenmgr::v1::PeerMessage message);
  // Executor thread only.
  virtual void Flush() = 0;
  // Any thread but the transport's own; stops sending for good. Idempotent.
  virtual void Close() = 0;
  // The peer is up (a stream or socket from it arrived): the next Flush reconnects
  // without waiting for the backoff. Any thread.
  virtual void PeerIsUp() = 0;
  // Whether the connection to the peer is up now (metrics). Any thread.
  virtual bool connected() const = 0;

  const std::string& peer() const { return peer_; }
  std::uint64_t messages_sent() const { return sent_.load(); }
  std::uint64_t messages_dropped() const { return dropped_.load(); }

 protected:
  // Batches of at most kPeerBatchBytes (or one message), in order.
  struct Batches {
    std::deque<tokenmgr::v1::PeerBatch> batches;
    std::size_t last_bytes = 0;  // of batches.back()
    std::uint64_t messages = 0;
    void Add(tokenmgr::v1::PeerMessage message, std::size_t bytes);
    void Append(Batches&& other);
    void Clear() { *this = Batches{}; }
  };

  const std::string peer_;
  Logger log_;
  Batches pending_;  // executor thread only
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> dropped_{0};

 private:
  std::uint64_t oversized_ = 0;  // executor thread only
};

class PeerLink final : public PeerSender {
 public:
  PeerLink(std::shared_ptr<grpc::Channel> channel, std::string self, std::string peer,
           std::string scheme_fingerprint, std::string cluster_secret, Logger log);
  ~PeerLink() override;

  void Flush() override;
  void Close() override;
  void PeerIsUp() override;
  bool connected() const override { return channel_->GetState(false) == GRPC_CHANNEL_READY; }

 private:
  class Stream;
  void WriteDone(Stream* stream, bool ok);
  // Moves the first queued batch into `stream` for writing. REQUIRES: mu_ held, a batch
  // queued.
  void TakeNextBatch(Stream* stream);
  void StreamDone(Stream* stream, const grpc::Status& status);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tokenmgr::v1::Replica::Stub> stub_;
  const std::string self_;
  const std::string fingerprint_;
  const std::string secret_;  // empty: streams carry no proof (TLS or --insecure-peers)

  std::mutex mu_;
  std::condition_variable done_cv_;
  Stream* stream_ = nullptr;  // the open stream, if any
  int live_streams_ = 0;      // streams whose OnDone has not run yet
  bool write_in_flight_ = false;
  bool closed_ = false;
  Batches queued_;  // waiting for the write in flight
  std::chrono::steady_clock::time_point next_attempt_{};
  bool peer_is_up_ = false;  // PeerIsUp: the next stream waits for the connection
  std::chrono::milliseconds backoff_{50};
  bool logged_down_ = false;
};

}  // namespace token::net
