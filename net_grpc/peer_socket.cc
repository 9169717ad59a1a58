#include "net_grpc/peer_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/text.h"
#include "net_grpc/credentials.h"
#include "net_grpc/peer_auth.h"

namespace token::net {

namespace pb = tokenmgr::v1;

namespace {

constexpr std::chrono::milliseconds kBackoffMin{50};
constexpr std::chrono::milliseconds kBackoffMax{1000};
constexpr int kTickMs = 250;
constexpr std::size_t kReadChunk = 256 << 10;
// Reads per connection per wake-up: a peer that sends without pause cannot starve others.
constexpr int kReadsPerWake = 4;
constexpr std::size_t kMaxRefusalBytes = 512;

// epoll tags: the kind in the top two bits.
constexpr std::uint64_t kTagWake = 0;
constexpr std::uint64_t kTagListener = 1ULL << 62;
constexpr std::uint64_t kTagConn = 2ULL << 62;
constexpr std::uint64_t kTagLink = 3ULL << 62;
constexpr std::uint64_t kTagMask = 3ULL << 62;

std::uint64_t LinkTag(std::size_t index, std::uint32_t gen) {
  return kTagLink | (static_cast<std::uint64_t>(index) << 32) | gen;
}

void PutU32(std::string& out, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 24)};
  out.append(b, 4);
}

std::uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint32_t>(u[0]) | (static_cast<std::uint32_t>(u[1]) << 8) |
         (static_cast<std::uint32_t>(u[2]) << 16) | (static_cast<std::uint32_t>(u[3]) << 24);
}

// The address in sockaddr form (ParseAddress checked it is an IP address).
void ToSockaddr(const Address& a, sockaddr_storage* ss, socklen_t* len) {
  *ss = {};
  if (a.host.find(':') != std::string::npos) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a.port);
    *len = sizeof(sockaddr_in6);
    inet_pton(AF_INET6, a.host.c_str(), &s6->sin6_addr);
    return;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(a.port);
  *len = sizeof(sockaddr_in);
  inet_pton(AF_INET, a.host.c_str(), &s4->sin_addr);
}

std::string HostOf(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(ss);
    if (IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr)) {
      // An IPv4 peer of a dual-stack listener ("[::]:P") is its IPv4 address, as gRPC
      // shows it, so the source check of --insecure-peers matches the scheme's spelling.
      inet_ntop(AF_INET, &s6.sin6_addr.s6_addr[12], buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &s6.sin6_addr, buf, sizeof buf);
    }
  } else {
    const auto& s4 = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &s4.sin_addr, buf, sizeof buf);
  }
  return buf;
}

void SetInt(int fd, int level, int name, int value) {
  setsockopt(fd, level, name, &value, sizeof value);
}

}  // namespace

// ---- PeerNet ----------------------------------------------------------------------------

struct PeerNet::Conn {
  enum class Phase { kSniff, kHello, kOpen };
  int fd = -1;
  Phase phase = Phase::kSniff;
  std::string source;
  Clock::time_point deadline{};
  NodeIndex from = 0;
  // Bytes read and not yet used: [begin, end) of buf.
  std::vector<char> buf;
  std::size_t begin = 0;
  std::size_t end = 0;
};

void PeerNet::TuneSocket(int fd) const {
  const auto period_ms = static_cast<int>(keepalive_.count());
  const int idle_s = std::max(1, (period_ms + 500) / 1000);
  SetInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  SetInt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPINTVL, std::max(1, idle_s / 2));
  SetInt(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
  SetInt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, std::max(2 * period_ms, 2'000));
}

Result<std::unique_ptr<PeerNet>> PeerNet::Listen(const std::string& listen,
                                                 std::chrono::milliseconds keepalive,
                                                 Handlers handlers) {
  auto address = ParseAddress(listen);
  if (!address.ok()) return address.status();
  sockaddr_storage ss;
  socklen_t len = 0;
  ToSockaddr(address.value(), &ss, &len);
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable(fmt::format("socket: {}", std::strerror(errno)));
  SetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);  // a restarted node binds past TIME_WAIT
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const int err = errno;
    close(fd);
    return Status::Unavailable(fmt::format("cannot listen on {} ({}: address in use or not local?)",
                                           listen, std::strerror(err)));
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  const int port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                        : reinterpret_cast<sockaddr_in&>(bound).sin_port);
  return std::unique_ptr<PeerNet>(new PeerNet(fd, port, keepalive, std::move(handlers)));
}

PeerNet::PeerNet(int listener, int port, std::chrono::milliseconds keepalive, Handlers handlers)
    : listener_(listener), port_(port), keepalive_(keepalive), handlers_(std::move(handlers)) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagWake;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
  ev.data.u64 = kTagListener;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
}

PeerNet::~PeerNet() {
  Stop();
  close(epoll_);
  close(wake_);
}

void PeerNet::Start(grpc::experimental::ExternalConnectionAcceptor* grpc) {
  grpc_ = grpc;
  thread_ = std::thread([this] { Run(); });
}

void PeerNet::Stop() {
  std::call_once(stop_once_, [this] {
    stopping_ = true;
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = write(wake_, &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    for (auto& [id, c] : conns_) close(c->fd);
    conns_.clear();
    close(listener_);
  });
}

void PeerNet::AddLink(SocketLink* link) {
  std::lock_guard lock(links_mu_);
  link->set_index(links_.size());
  links_.push_back(link);
}

bool PeerNet::Watch(const SocketLink* link, int fd, std::uint32_t gen, bool want_out, bool first) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0u);
  ev.data.u64 = LinkTag(link->index(), gen);
  return epoll_ctl(epoll_, first ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) == 0;
}

void PeerNet::Run() {
  std::array<epoll_event, 64> events;
  Clock::time_point next_tick = Clock::now();
  while (!stopping_) {
    const int n = epoll_wait(epoll_, events.data(), events.size(), kTickMs);
    // Only a broken descriptor fails here; going on would leave the node deaf to everyone.
    TOKEN_ASSERT(n >= 0 || errno == EINTR, "epoll_wait failed on PeerNet's own descriptor");
    for (int i = 0; i < n && !stopping_; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      switch (tag & kTagMask) {
        case kTagWake:
          break;
        case kTagListener:
          Accept();
          break;
        case kTagConn:
          OnConn(tag & ~kTagMask, events[i].events);
          break;
        default: {
          SocketLink* link = nullptr;
          {
            std::lock_guard lock(links_mu_);
            const std::size_t index = (tag & ~kTagMask) >> 32;
            if (index < links_.size()) link = links_[index];
          }
          if (link != nullptr) link->OnEvents(static_cast<std::uint32_t>(tag), events[i].events);
        }
      }
    }
    const auto now = Clock::now();
    if (now >= next_tick) {
      next_tick = now + std::chrono::milliseconds(kTickMs);
      Housekeeping(now);
    }
  }
}

void PeerNet::Accept() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd =
        accept4(listener_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
      // Out of descriptors (EMFILE, ENFILE) or memory: stop accepting for a moment rather
      // than spin on a listener that stays readable.
      const std::uint64_t e = ++accept_errors_;
      if (handlers_.log && (e & (e - 1)) == 0) {
        handlers_.log(fmt::format("peer sockets: accept failed: {} ({} so far); pausing 100 ms",
                                  std::strerror(errno), e));
      }
      epoll_ctl(epoll_, EPOLL_CTL_DEL, listener_, nullptr);
      listener_paused_ = true;
      listener_paused_until_ = Clock::now() + std::chrono::milliseconds(100);
      return;
    }
    if (pending_ >= kMaxPending) {
      // Too many connections that have not said what they are: the oldest goes, so that
      // silent connections cannot lock new clients out.
      for (const auto& [old, o] : conns_) {
        if (o->phase != Conn::Phase::kOpen) {
          CloseConn(old);
          break;
        }
      }
    }
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->source = HostOf(ss);
    c->deadline = Clock::now() + kHelloTimeout;
    const std::uint64_t id = next_id_++;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = kTagConn | id;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    conns_.emplace(id, std::move(c));
    ++pending_;
  }
}

void PeerNet::OnConn(std::uint64_t id, std::uint32_t events) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;  // closed while this event waited
  Conn& c = *it->second;
  bool keep = true;
  switch (c.phase) {
    case Conn::Phase::kSniff:
      keep = Sniff(c, id);
      break;
    case Conn::Phase::kHello:
      keep = ReadHello(c, id);
      break;
    case Conn::Phase::kOpen:
      keep = ReadBatches(c);
      break;
  }
  if (!keep) {
    CloseConn(id);
  } else if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
    // Gone (gRPC's now, if Sniff handed it over: then it is no longer ours to close).
    if (auto again = conns_.find(id); again != conns_.end()) CloseConn(id);
  }
}

bool PeerNet::Sniff(Conn& c, std::uint64_t id) {
  char first = 0;
  const ssize_t n = recv(c.fd, &first, 1, MSG_PEEK);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (first == kMagic[0]) {
    c.phase = Conn::Phase::kHello;
    return ReadHello(c, id);
  }
  // Not ours: gRPC's (HTTP/2 or TLS). It owns the descriptor from here.
  const int fd = c.fd;
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  conns_.erase(id);
  --pending_;
  SetInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  if (grpc_ == nullptr) {
    close(fd);
    return true;
  }
  grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
  p.listener_fd = listener_;
  p.fd = fd;
  grpc_->HandleNewConnection(&p);
  return true;
}

PeerNet::FillResult PeerNet::Fill(Conn& c, std::size_t want) {
  if (c.begin > 0 && c.begin == c.end) c.begin = c.end = 0;
  if (c.buf.size() - c.end < want) {
    if (c.begin > 0) {  // move what is left to the front first
      std::memmove(c.buf.data(), c.buf.data() + c.begin, c.end - c.begin);
      c.end -= c.begin;
      c.begin = 0;
    }
    if (c.buf.size() - c.end < want) c.buf.resize(c.end + want);
  }
  const ssize_t n = recv(c.fd, c.buf.data() + c.end, c.buf.size() - c.end, 0);
  if (n == 0) return FillResult::kClosed;
  if (n < 0) return errno == EAGAIN || errno == EINTR ? FillResult::kAgain : FillResult::kClosed;
  // A read that did not fill the room took everything there was: no second read to hear
  // EAGAIN (epoll reports the socket again when more arrives).
  const bool drained = static_cast<std::size_t>(n) < c.buf.size() - c.end;
  c.end += static_cast<std::size_t>(n);
  return drained ? FillResult::kDrained : FillResult::kData;
}

bool PeerNet::ReadHello(Conn& c, std::uint64_t id) {
  constexpr std::size_t kHead = kMagic.size() + 4;
  // A hello is small: read it (and whatever follows) in one go.
  if (Fill(c, kHead + kMaxHelloBytes) == FillResult::kClosed) return false;
  const std::size_t have = c.end - c.begin;
  const char* p = c.buf.data() + c.begin;
  const std::size_t check = std::min(have, kMagic.size());
  if (std::string_view(p, check) != kMagic.substr(0, check)) {
    Refuse(c, Status::InvalidArgument("not a peer socket (bad magic)"));
    return false;
  }
  if (have < kHead) return true;
  const std::uint32_t n = GetU32(p + kMagic.size());
  if (n == 0 || n > kMaxHelloBytes) {
    Refuse(c,
           Status::InvalidArgument(fmt::format("a hello of {} bytes (1..{})", n, kMaxHelloBytes)));
    return false;
  }
  if (have < kHead + n) return true;
  pb::PeerHello hello;
  if (!hello.ParseFromArray(p + kHead, static_cast<int>(n))) {
    Refuse(c, Status::InvalidArgument("the hello does not decode"));
    return false;
  }
  c.begin += kHead + n;
  auto from = handlers_.identify(hello, c.source);
  if (!from.ok()) {
    Refuse(c, from.status());
    return false;
  }
  c.from = from.value();
  c.phase = Conn::Phase::kOpen;
  --pending_;
  const char ok = 'k';
  if (send(c.fd, &ok, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) return false;
  TuneSocket(c.fd);
  // At most kMaxSocketsPerPeer open from one node: the oldest go (ids grow with time).
  std::vector<std::uint64_t> others;  // in id order: the oldest first
  for (const auto& [other, o] : conns_) {
    if (other != id && o->phase == Conn::Phase::kOpen && o->from == c.from) others.push_back(other);
  }
  for (std::size_t i = 0; others.size() - i + 1 > kMaxSocketsPerPeer; ++i) CloseConn(others[i]);
  if (handlers_.peer_up) handlers_.peer_up(c.from);
  return ReadBatches(c);
}

bool PeerNet::ParseFrames(Conn& c) {
  while (c.end - c.begin >= 4) {
    const std::uint32_t n = GetU32(c.buf.data() + c.begin);
    if (n == 0 || n > static_cast<std::uint32_t>(kMaxMessageBytes)) {
      if (handlers_.log) {
        handlers_.log(fmt::format("peer socket from {}: a frame of {} bytes (1..{}); closed",
                                  c.source, n, kMaxMessageBytes));
      }
      return false;
    }
    if (c.end - c.begin - 4 < n) return true;
    auto batch = std::make_unique<pb::PeerBatch>();
    if (!batch->ParseFromArray(c.buf.data() + c.begin + 4, static_cast<int>(n))) {
      if (handlers_.log) {
        handlers_.log(
            fmt::format("peer socket from {}: a batch that does not decode; closed", c.source));
      }
      return false;
    }
    c.begin += 4 + n;
    handlers_.deliver(c.from, std::move(batch));
  }
  return true;
}

bool PeerNet::ReadBatches(Conn& c) {
  // Whole frames first (the hello's read may have brought some), then a few reads: a
  // peer that sends without pause cannot starve the others; epoll reports it again.
  if (!ParseFrames(c)) return false;
  for (int round = 0; round < kReadsPerWake; ++round) {
    // Room for the rest of a long frame at once, else a chunk.
    std::size_t want = kReadChunk;
    if (c.end - c.begin >= 4) {
      want = std::max<std::size_t>(want, GetU32(c.buf.data() + c.begin) + 4 - (c.end - c.begin));
    }
    const FillResult r = Fill(c, want);
    if (r == FillResult::kClosed) return false;
    if (r == FillResult::kAgain) break;
    if (!ParseFrames(c)) return false;
    if (r == FillResult::kDrained) break;
  }
  // Memory back after a large frame.
  if (c.begin == c.end && c.buf.size() > 4 * kReadChunk) {
    c.buf = std::vector<char>();
    c.begin = c.end = 0;
  }
  return true;
}

void PeerNet::Refuse(Conn& c, const Status& why) {
  const std::string line =
      Abbreviate(fmt::format("refused: {}", why.message()), kMaxRefusalBytes - 1) + "\n";
  [[maybe_unused]] auto n = send(c.fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  // What the peer sent and we did not read would make close() reset the connection before
  // the line arrives: read it away first (bounded), then close our side's writing.
  char sink[4096];
  for (int i = 0; i < 16 && recv(c.fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  shutdown(c.fd, SHUT_WR);
}

void PeerNet::CloseConn(std::uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  if (it->second->phase != Conn::Phase::kOpen) --pending_;
  epoll_ctl(epoll_, EPOLL_CTL_DEL, it->second->fd, nullptr);
  close(it->second->fd);
  conns_.erase(it);
}

void PeerNet::Housekeeping(Clock::time_point now) {
  std::vector<std::uint64_t> late;
  for (const auto& [id, c] : conns_) {
    if (c->phase != Conn::Phase::kOpen && now >= c->deadline) late.push_back(id);
  }
  for (std::uint64_t id : late) CloseConn(id);
  if (listener_paused_ && now >= listener_paused_until_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagListener;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
    listener_paused_ = false;
  }
  std::vector<SocketLink*> links;
  {
    std::lock_guard lock(links_mu_);
    links = links_;
  }
  for (SocketLink* link : links) link->Tick(now);
}

// ---- SocketLink -------------------------------------------------------------------------

SocketLink::SocketLink(PeerNet* net, Address address, std::string self, std::string peer,
                       std::string fingerprint, std::string cluster_secret, Logger log)
    : PeerSender(std::move(peer), std::move(log)),
      net_(net),
      address_(std::move(address)),
      self_(std::move(self)),
      fingerprint_(std::move(fingerprint)),
      secret_(std::move(cluster_secret)) {
  net_->AddLink(this);
}

SocketLink::~SocketLink() { Close(); }

void SocketLink::Flush() {
  if (pending_.messages == 0) return;
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!closed_ && phase_ == Phase::kDown && now >= next_attempt_) ConnectLocked(now);
  if (closed_ || phase_ == Phase::kDown || out_.size() - out_pos_ > kMaxQueuedBytes) {
    dropped_ += pending_.messages;
    pending_.Clear();
    return;
  }
  AppendLocked(pending_);
  if (phase_ == Phase::kOpen && acked_ && !want_out_) WriteLocked();
}

void SocketLink::AppendLocked(Batches& batches) {
  for (pb::PeerBatch& b : batches.batches) {
    const std::size_t n = b.ByteSizeLong();
    const std::size_t at = out_.size();
    PutU32(out_, static_cast<std::uint32_t>(n));
    out_.resize(at + 4 + n);
    b.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(out_.data() + at + 4));
    frames_.push_back(Frame{out_.size(), static_cast<std::uint64_t>(b.messages_size())});
  }
  batches.Clear();
}

void SocketLink::ConnectLocked(std::chrono::steady_clock::time_point now) {
  next_attempt_ = now + backoff_;
  backoff_ = std::min(backoff_ * 2, kBackoffMax);
  sockaddr_storage ss;
  socklen_t len = 0;
  ToSockaddr(address_, &ss, &len);
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  net_->TuneSocket(fd);
  const int r = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (r != 0 && errno != EINPROGRESS) {
    close(fd);
    return;
  }
  fd_ = fd;
  ++gen_;
  phase_ = r == 0 ? Phase::kOpen : Phase::kConnecting;
  acked_ = false;
  refusal_.clear();
  connect_started_ = now;
  // The hello first, with a fresh proof made now; frames wait for the peer's 'k'.
  pb::PeerHello hello;
  hello.set_node(self_);
  hello.set_scheme(fingerprint_);
  if (!secret_.empty()) {
    hello.set_auth(MakePeerProof(secret_, "Socket", self_, peer_, fingerprint_));
  }
  out_.assign(PeerNet::kMagic);
  PutU32(out_, static_cast<std::uint32_t>(hello.ByteSizeLong()));
  out_.append(hello.SerializeAsString());
  out_pos_ = 0;
  hello_end_ = out_.size();
  frames_.clear();
  want_out_ = true;  // the connect's end, or room for the hello
  if (!net_->Watch(this, fd_, gen_, want_out_, /*first=*/true)) {
    DownLocked(fmt::format("epoll: {}", std::strerror(errno)));
  }
}

void SocketLink::WriteLocked() {
  // Before the peer's 'k' only the hello goes: frames sent to a peer that refuses us
  // would be lost anyway, and would make its close reset the connection before its
  // reason arrives.
  const std::size_t limit = acked_ ? out_.size() : hello_end_;
  while (out_pos_ < limit) {
    const ssize_t n =
        send(fd_, out_.data() + out_pos_, limit - out_pos_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      DownLocked(fmt::format("send: {}", std::strerror(errno)));
      return;
    }
    out_pos_ += static_cast<std::size_t>(n);
  }
  // Frames the kernel took in full are sent.
  while (!frames_.empty() && frames_.front().end <= out_pos_) {
    sent_ += frames_.front().messages;
    frames_.pop_front();
  }
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
    hello_end_ = 0;
    if (out_.capacity() > (1 << 20)) out_.shrink_to_fit();
  } else if (out_pos_ >= (1 << 20) || 2 * out_pos_ >= out_.size()) {
    // A peer slower than us for a while: what it took goes, so the buffer holds only what
    // waits (at most kMaxQueuedBytes and a flush).
    out_.erase(0, out_pos_);
    for (Frame& f : frames_) f.end -= out_pos_;
    hello_end_ = hello_end_ > out_pos_ ? hello_end_ - out_pos_ : 0;
    out_pos_ = 0;
  }
  // Whether bytes that may go now are still waiting (out_ may have just been emptied or
  // compacted: measured against what it holds now).
  const bool more = out_pos_ < (acked_ ? out_.size() : hello_end_);
  if (more != want_out_) {
    want_out_ = more;
    if (!net_->Watch(this, fd_, gen_, want_out_, false)) {
      DownLocked(fmt::format("epoll: {}", std::strerror(errno)));
    }
  }
}

void SocketLink::DownLocked(const std::string& why) {
  if (fd_ >= 0) {
    // Reset, not a graceful close: frames still in the kernel must not reach the peer
    // later, out of order with those of the next socket.
    const linger reset{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(fd_);  // also leaves PeerNet's epoll
  }
  fd_ = -1;
  ++gen_;
  phase_ = Phase::kDown;
  up_ = false;
  acked_ = false;
  want_out_ = false;
  for (const Frame& f : frames_) dropped_ += f.messages;
  frames_.clear();
  out_.clear();
  out_pos_ = 0;
  hello_end_ = 0;
  if (!closed_ && !logged_down_ && log_) {
    logged_down_ = true;
    log_(fmt::format("peer {}: socket down ({})", peer_, why));
  }
}

std::string SocketLink::RefusalLocked(const char* otherwise) const {
  if (refusal_.empty()) return otherwise;
  if (!refusal_.starts_with("refused: ")) {
    // gRPC's HTTP/2 answer to our magic: a node with --peer-transport grpc, or TLS.
    return "the peer does not take peer sockets: every node of a cluster needs the same "
           "--peer-transport";
  }
  std::string why = Abbreviate(refusal_, 200);
  while (!why.empty() && why.back() == '\n') why.pop_back();
  return why;
}

void SocketLink::OnEvents(std::uint32_t gen, std::uint32_t events) {
  std::lock_guard lock(mu_);
  if (gen != gen_ || fd_ < 0) return;  // an old socket's event
  if (phase_ == Phase::kConnecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      DownLocked(fmt::format("connect: {}", std::strerror(err)));
      return;
    }
    phase_ = Phase::kOpen;
  }
  if ((events & EPOLLIN) != 0) {
    char buf[kMaxRefusalBytes];
    const ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      std::size_t from = 0;
      if (!acked_ && refusal_.empty() && buf[0] == 'k') {
        acked_ = true;
        up_ = true;
        backoff_ = kBackoffMin;
        from = 1;
        if (logged_down_) {
          logged_down_ = false;
          if (log_) log_(fmt::format("peer {}: socket up", peer_));
        }
        WriteLocked();  // the frames that waited for it
        if (fd_ < 0) return;
      }
      if (static_cast<std::size_t>(n) > from && refusal_.size() < kMaxRefusalBytes) {
        refusal_.append(buf + from, static_cast<std::size_t>(n) - from);
      }
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      DownLocked(RefusalLocked(n == 0 ? "closed by the peer" : std::strerror(errno)));
      return;
    }
  }
  if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
    DownLocked(RefusalLocked("connection reset"));
    return;
  }
  if (phase_ == Phase::kOpen && (events & EPOLLOUT) != 0) WriteLocked();
}

void SocketLink::Tick(std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mu_);
  if (fd_ >= 0 && !acked_ && now - connect_started_ > PeerNet::kHelloTimeout) {
    DownLocked(phase_ == Phase::kConnecting ? "connect timed out" : "no answer to the hello");
  }
}

void SocketLink::PeerIsUp() {
  std::lock_guard lock(mu_);
  if (phase_ != Phase::kDown) return;
  backoff_ = kBackoffMin;
  next_attempt_ = {};
}

void SocketLink::Close() {
  std::lock_guard lock(mu_);
  if (closed_) return;
  closed_ = true;
  DownLocked("closed");
}

}  // namespace token::net
