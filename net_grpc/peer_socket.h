// Peer sockets: protocol messages between nodes on TCP connections of the node's own,
// beside gRPC (docs/ARCHITECTURE.md, "Peer traffic"; docs/FORMATS.md, "Peer sockets").
//
// Why not a gRPC stream: gRPC 1.51 sends a flow-control refund (a WINDOW_UPDATE write)
// after every message that arrives on a long-lived stream with a read waiting, so almost
// half of a node's socket writes carried no data and woke the peer for nothing
// (bench/op_syscalls.sh). A peer socket carries length-prefixed batches one way, and
// nothing back once it is open.
//
// One port. PeerNet owns the node's listening socket (its address in the scheme, or
// --listen) and accepts every connection. A connection whose first byte is 't' (kMagic)
// is a peer socket; any other first byte (HTTP/2's preface "PRI ", a TLS hello) goes to
// gRPC as an external connection, so clients and gRPC peers find the same server as
// before. A node with TLS keeps gRPC's own listener and takes no peer sockets (they would
// carry values in clear text): its peers stay on gRPC streams (PeerLink).
//
// The wire, from the connecting node only:
//   "tkp1" u32le(n) PeerHello[n]     once, first; 1 <= n <= kMaxHelloBytes
//   u32le(n) PeerBatch[n]            repeated; 1 <= n <= kMaxMessageBytes
// The hello is checked as a gRPC peer stream's metadata is (IdentifyClaim: a node of the
// scheme other than this one, our scheme's fingerprint, and a fresh proof of the cluster
// secret for the method "Socket", or with --insecure-peers the source address). The
// receiver answers the byte 'k' when it accepts the hello, or a line saying why not, and
// closes. Anything malformed (another magic, a length out of range, a batch that does not
// decode) closes the connection; a connection must send its first byte and hello within
// kHelloTimeout. Nothing from a connection reaches the node before its hello is accepted,
// and each message is then checked as a stream's are (the sender must be a replica of the
// message's token).
//
// Threads. PeerNet runs one thread on epoll: it accepts, reads the peer sockets and hands
// each batch to `deliver` on that thread (the node runs it there when its executor is
// idle, Executor::RunOrPost: no thread wake-up between the socket and the protocol), and
// completes SocketLinks' connects and writes that the kernel could not take at once.
// SocketLink::Flush writes to its socket directly on the executor thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <grpcpp/server_builder.h>

#include "base/status.h"
#include "core/address.h"
#include "core/scheme.h"
#include "net_grpc/peer_link.h"
#include "proto/token.pb.h"

namespace token::net {

class SocketLink;

class PeerNet {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::string_view kMagic = "tkp1";
  static constexpr std::size_t kMaxHelloBytes = 4096;
  // A connection's first byte and hello must arrive within this long.
  static constexpr std::chrono::milliseconds kHelloTimeout{5000};
  // Connections accepted but not yet a peer socket or gRPC's; a new one beyond closes the
  // oldest.
  static constexpr std::size_t kMaxPending = 256;
  // Open peer sockets from one node; a newer one closes the oldest (a restarted peer's
  // old socket may linger until its keepalive fails).
  static constexpr int kMaxSocketsPerPeer = 2;

  struct Handlers {
    // The node a hello speaks for, or why it is refused (PERMISSION_DENIED). `source` is
    // the connection's IP address.
    std::function<Result<NodeIndex>(const tokenmgr::v1::PeerHello&, std::string_view source)>
        identify;
    // A batch from `from` (PeerNet's thread).
    std::function<void(NodeIndex from, std::unique_ptr<tokenmgr::v1::PeerBatch>)> deliver;
    // A socket from `from` was accepted: it is up (perhaps restarted).
    std::function<void(NodeIndex from)> peer_up;
    std::function<void(const std::string&)> log;
  };

  // Binds and listens on `listen`; sockets get TCP keepalive
  // from `keepalive` (TuneSocket). UNAVAILABLE when it cannot.
  // `listen` is an access point (core/address.h: IP:PORT); INVALID_ARGUMENT otherwise.
  static Result<std::unique_ptr<PeerNet>> Listen(const std::string& listen,
                                                 std::chrono::milliseconds keepalive,
                                                 Handlers handlers);
  ~PeerNet();
  PeerNet(const PeerNet&) = delete;
  PeerNet& operator=(const PeerNet&) = delete;

  int port() const { return port_; }
  // Starts the thread; connections that are not peer sockets go to `grpc` (which must
  // outlive Stop). Once.
  void Start(grpc::experimental::ExternalConnectionAcceptor* grpc);
  // Closes the listener and every accepted connection and joins the thread. The links
  // stay (their owner closes them). Idempotent.
  void Stop();

  // SocketLink's side (any thread): watch `fd` for the link, for input always and for
  // output when `want_out`; `gen` tells the link's sockets apart.
  void AddLink(SocketLink* link);
  // False (errno set) when epoll refuses.
  bool Watch(const SocketLink* link, int fd, std::uint32_t gen, bool want_out, bool first);

  // Sets what every peer socket gets: no Nagle delay, and TCP keepalive from the gRPC
  // channels' period (credentials.h KeepaliveTime, 10 s): probes after that long idle,
  // then every half of it, 3 of them; data unacknowledged for twice the period (at least
  // 2 s) ends the connection too.
  void TuneSocket(int fd) const;

 private:
  struct Conn;
  PeerNet(int listener, int port, std::chrono::milliseconds keepalive, Handlers handlers);
  void Run();
  void Accept();
  void OnConn(std::uint64_t id, std::uint32_t events);
  // Reads a pending connection's first byte / hello, or an open one's batches. False:
  // close it.
  bool Sniff(Conn& c, std::uint64_t id);
  bool ReadHello(Conn& c, std::uint64_t id);
  bool ReadBatches(Conn& c);
  // Hands c.buf's whole frames to `deliver`. False: a malformed frame.
  bool ParseFrames(Conn& c);
  // One read into c.buf, with room for `want` bytes: it filled the room (kData), took
  // less (kDrained: the socket had no more), found nothing (kAgain), or the connection
  // ended.
  enum class FillResult { kData, kDrained, kAgain, kClosed };
  FillResult Fill(Conn& c, std::size_t want);
  void Refuse(Conn& c, const Status& why);
  void CloseConn(std::uint64_t id);
  void Housekeeping(Clock::time_point now);

  const int listener_;
  const int port_;
  const std::chrono::milliseconds keepalive_;
  const Handlers handlers_;
  int epoll_ = -1;
  int wake_ = -1;  // eventfd: Stop
  grpc::experimental::ExternalConnectionAcceptor* grpc_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::once_flag stop_once_;

  // PeerNet's thread only.
  std::map<std::uint64_t, std::unique_ptr<Conn>> conns_;  // by id (never reused)
  std::uint64_t next_id_ = 1;
  std::size_t pending_ = 0;  // conns_ not yet open
  Clock::time_point listener_paused_until_{};
  bool listener_paused_ = false;
  std::uint64_t accept_errors_ = 0;

  std::mutex links_mu_;
  std::vector<SocketLink*> links_;  // by index; they outlive the thread
};

// The sending half of the peer socket from this node to one peer (PeerSender).
//
// Flush writes the pending batches as frames (peer_socket.h's wire) to the socket: at once
// when nothing waits before them, else after the bytes the kernel has not taken yet
// (PeerNet's thread writes those when the socket has room). While the socket connects,
// frames wait behind the hello, up to kMaxQueuedBytes; beyond that, and whenever the
// socket is down, messages are dropped and counted, which the protocol tolerates as
// message loss (as PeerLink's streams do). A socket that breaks (refused, reset, no 'k'
// within the hello timeout) is reopened on a later Flush, no sooner than a backoff (50 ms
// doubling to 1 s), or at once after PeerIsUp.
class SocketLink final : public PeerSender {
 public:
  static constexpr std::size_t kMaxQueuedBytes = 8 << 20;

  SocketLink(PeerNet* net, Address address, std::string self, std::string peer,
             std::string fingerprint, std::string cluster_secret, Logger log);
  ~SocketLink() override;

  void Flush() override;
  void Close() override;
  void PeerIsUp() override;
  bool connected() const override { return up_.load(); }

  // PeerNet's thread.
  void OnEvents(std::uint32_t gen, std::uint32_t events);
  void Tick(std::chrono::steady_clock::time_point now);
  std::size_t index() const { return index_; }
  void set_index(std::size_t i) { index_ = i; }

 private:
  enum class Phase { kDown, kConnecting, kOpen };
  // REQUIRES: mu_ held (all of them).
  void ConnectLocked(std::chrono::steady_clock::time_point now);
  void AppendLocked(Batches& batches);
  void WriteLocked();
  void DownLocked(const std::string& why);
  // Why the peer closed: its refusal line, or `otherwise`.
  std::string RefusalLocked(const char* otherwise) const;

  PeerNet* const net_;
  const Address address_;
  const std::string self_;
  const std::string fingerprint_;
  const std::string secret_;
  std::size_t index_ = 0;

  mutable std::mutex mu_;
  Phase phase_ = Phase::kDown;
  int fd_ = -1;
  std::uint32_t gen_ = 0;
  bool acked_ = false;     // the peer answered 'k'
  bool want_out_ = false;  // PeerNet watches for room to write
  std::string out_;        // bytes not yet taken by the kernel, from out_pos_
  std::size_t out_pos_ = 0;
  std::size_t hello_end_ = 0;  // out_[0, hello_end_) is the hello, until it is sent
  // The frames in out_ (where each ends, its messages), not yet taken in full by the
  // kernel: sent when it takes them, dropped if the socket breaks first.
  struct Frame {
    std::size_t end;
    std::uint64_t messages;
  };
  std::deque<Frame> frames_;
  std::string refusal_;  // what the peer said instead of 'k'
  std::chrono::steady_clock::time_point connect_started_{};
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{50};
  bool closed_ = false;
  bool logged_down_ = false;
  std::atomic<bool> up_{false};
};

}  // namespace token::net
