// Peer sockets (net_grpc/peer_socket.h) against hostile input, with real tokenserver
// processes on loopback: whatever a connection sends before a valid hello is refused with
// a bounded line and changes nothing; a valid hello opens one socket and is refused when
// replayed; malformed frames close the socket; silent connections are closed and cannot
// lock clients out; nodes on gRPC streams (--peer-transport grpc) still form a cluster.
// Every process is stopped by the test; every wait is bounded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/address.h"
#include "core/scheme_yaml.h"
#include "net_grpc/node_server.h"
#include "net_grpc/peer_auth.h"
#include "net_grpc/peer_socket.h"
#include "support/local_cluster.h"
#include "support/one_token_cluster.h"

namespace token {
namespace {

namespace pb = tokenmgr::v1;
using testing::Fingerprint;
using ::testing::HasSubstr;
using testing::Json;
using testing::LocalCluster;
using testing::StatusOf;
using testing::WriteReal;

constexpr const char* kScheme = testing::kOneTokenScheme;

// A blocking TCP connection to a node's port, closed when it goes.
class Conn {
 public:
  explicit Conn(const std::string& node) {
    auto a = ParseAddress(node);
    EXPECT_TRUE(a.ok());
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(a.value().port);
    inet_pton(AF_INET, a.value().host.c_str(), &s.sin_addr);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&s), sizeof s), 0);
  }
  ~Conn() { close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  void Send(const std::string& bytes) {
    EXPECT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // Everything the node sends until it closes the connection, or until `limit` passed
  // (then `closed` is false).
  std::string ReadAll(std::chrono::milliseconds limit, bool* closed) {
    std::string got;
    *closed = false;
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 1))) <= 0) continue;
      char buf[1024];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        *closed = true;
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }
  // One byte within `limit`, or '\0'.
  char ReadByte(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    char c = 0;
    if (poll(&p, 1, static_cast<int>(limit.count())) == 1 && recv(fd_, &c, 1, 0) == 1) return c;
    return 0;
  }

 private:
  int fd_ = -1;
};

std::string U32(std::uint32_t v) {
  return std::string{static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 24)};
}

std::string Hello(const std::string& node, const std::string& scheme, const std::string& auth) {
  pb::PeerHello h;
  h.set_node(node);
  h.set_scheme(scheme);
  h.set_auth(auth);
  const std::string body = h.SerializeAsString();
  return std::string(net::PeerNet::kMagic) + U32(static_cast<std::uint32_t>(body.size())) + body;
}

// A batch of one UPDATE of token 1 to `version`, framed.
std::string UpdateFrame(std::uint64_t version) {
  pb::PeerBatch batch;
  pb::PeerMessage* m = batch.add_messages();
  m->set_type(pb::UPDATE);
  m->set_token("1");
  m->set_op_id(1);
  m->mutable_value()->set_version(version);
  m->mutable_value()->set_kind(pb::VALUE_EMPTY);
  const std::string body = batch.SerializeAsString();
  return U32(static_cast<std::uint32_t>(body.size())) + body;
}

constexpr std::chrono::milliseconds kAnswer{3000};

TEST(PeerSockets, EveryBadHelloIsRefusedWithABoundedLineAndChangesNothing) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  ASSERT_EQ(Json(WriteReal(c, "real"))["version"], 1);
  const std::string fp = Fingerprint(c);
  auto secret = net::LoadClusterSecret(c.secret_file());
  ASSERT_TRUE(secret.ok());
  const std::string other(64, 'x');
  struct Case {
    std::string bytes;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"txyz", "bad magic"},
      {std::string(net::PeerNet::kMagic) + U32(0), "a hello of 0 bytes"},
      {std::string(net::PeerNet::kMagic) + U32(5000), "a hello of 5000 bytes"},
      {std::string(net::PeerNet::kMagic) + U32(3) + "\xff\xff\xff", "does not decode"},
      {Hello(c.node(0), fp, ""), "authentication failed"},
      {Hello(c.node(0), fp, "v1 garbage"), "authentication failed"},
      {Hello(c.node(0), fp, net::MakePeerProof(other, "Socket", c.node(0), c.node(2), fp)),
       "authentication failed"},
      // A real proof, made for another receiver or another method.
      {Hello(c.node(0), fp, net::MakePeerProof(secret.value(), "Socket", c.node(0), c.node(1), fp)),
       "authentication failed"},
      {Hello(c.node(0), fp,
             net::MakePeerProof(secret.value(), "Deliver", c.node(0), c.node(2), fp)),
       "authentication failed"},
      {Hello("10.9.9.9:1", fp, ""), "not a node of this replication scheme"},
      {Hello(c.node(2), fp, ""), "not a node of this replication scheme"},
      {Hello(c.node(0), std::string(64, '0'), ""), "different replication scheme"},
  };
  for (const Case& k : cases) {
    Conn conn(c.node(2));
    // Each followed by a forged update: it must never be applied.
    conn.Send(k.bytes + UpdateFrame(1'000'000));
    bool closed = false;
    const std::string got = conn.ReadAll(kAnswer, &closed);
    EXPECT_TRUE(closed) << k.says;
    EXPECT_THAT(got, HasSubstr("refused: ")) << k.says;
    EXPECT_THAT(got, HasSubstr(k.says));
    EXPECT_LE(got.size(), 512u);
  }
  const auto st = StatusOf(c, 2);
  EXPECT_EQ(st["tokens"][0]["version"], 1);
  EXPECT_EQ(st["peer_auth_refused"], 8);  // the cases past the hello's own checks
  for (int i = 0; i < 3; ++i) {
    auto r = Json(c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(i), "--json"}));
    EXPECT_EQ(r["version"], 1);
  }
  EXPECT_EQ(Json(WriteReal(c, "after"))["version"], 2);
}

TEST(PeerSockets, AValidHelloOpensOneSocketAndIsRefusedWhenReplayed) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  ASSERT_EQ(Json(WriteReal(c, "real"))["version"], 1);
  const std::string fp = Fingerprint(c);
  auto secret = net::LoadClusterSecret(c.secret_file());
  ASSERT_TRUE(secret.ok());
  const std::string hello =
      Hello(c.node(0), fp, net::MakePeerProof(secret.value(), "Socket", c.node(0), c.node(2), fp));
  {
    Conn conn(c.node(2));
    conn.Send(hello);
    EXPECT_EQ(conn.ReadByte(kAnswer), 'k');
    // A frame longer than any message may be: the socket closes, nothing else is said.
    conn.Send(U32((4 << 20) + 1) + "abc");
    bool closed = false;
    EXPECT_EQ(conn.ReadAll(kAnswer, &closed), "");
    EXPECT_TRUE(closed);
  }
  {
    Conn replay(c.node(2));
    replay.Send(hello);
    bool closed = false;
    const std::string got = replay.ReadAll(kAnswer, &closed);
    EXPECT_TRUE(closed);
    EXPECT_THAT(got, HasSubstr("used before"));
  }
  {
    // A fresh proof, then a batch that does not decode: closed.
    Conn conn(c.node(2));
    conn.Send(Hello(c.node(0), fp,
                    net::MakePeerProof(secret.value(), "Socket", c.node(0), c.node(2), fp)) +
              U32(4) + "\xff\xff\xff\xff");
    bool closed = false;
    EXPECT_EQ(conn.ReadAll(kAnswer, &closed), "k");
    EXPECT_TRUE(closed);
  }
  // The node goes on: its own peers' sockets are untouched.
  EXPECT_EQ(Json(WriteReal(c, "after"))["version"], 2);
  EXPECT_EQ(StatusOf(c, 2)["tokens"][0]["version"], 2);
}

TEST(PeerSockets, SilentConnectionsAreClosedAndNeverLockClientsOut) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  ASSERT_EQ(Json(WriteReal(c, "real"))["version"], 1);
  // More silent connections than the node keeps waiting (kMaxPending): the oldest go, and
  // clients' new connections are still served.
  std::vector<std::unique_ptr<Conn>> silent;
  for (std::size_t i = 0; i < net::PeerNet::kMaxPending + 44; ++i) {
    silent.push_back(std::make_unique<Conn>(c.node(1)));
  }
  auto r = Json(c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(1), "--json"}));
  EXPECT_EQ(r["version"], 1);
  // The first were closed to make room; the last are closed after the hello timeout.
  bool closed = false;
  silent.front()->ReadAll(std::chrono::milliseconds(500), &closed);
  EXPECT_TRUE(closed);
  const auto start = std::chrono::steady_clock::now();
  silent.back()->ReadAll(net::PeerNet::kHelloTimeout + std::chrono::seconds(3), &closed);
  EXPECT_TRUE(closed);
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            net::PeerNet::kHelloTimeout - std::chrono::seconds(2));
  EXPECT_EQ(Json(WriteReal(c, "after"))["version"], 2);
}

TEST(PeerSockets, NodesOnGrpcStreamsStillFormACluster) {
  LocalCluster c(kScheme, 3, {"--quiet", "--peer-transport", "grpc"});
  EXPECT_EQ(Json(WriteReal(c, "first"))["version"], 1);
  for (int i = 0; i < 3; ++i) {
    auto r = Json(c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(i), "--json"}));
    EXPECT_EQ(r["version"], 1);
  }
  // gRPC listens itself: a peer socket is not understood there.
  Conn conn(c.node(2));
  conn.Send(Hello(c.node(0), Fingerprint(c), ""));
  bool closed = false;
  const std::string got = conn.ReadAll(kAnswer, &closed);
  EXPECT_TRUE(got.empty() || got[0] != 'k') << got;
  EXPECT_TRUE(closed);
  EXPECT_EQ(StatusOf(c, 0)["peer_messages_dropped"], 0);
}

// A peer that accepts our hello and then reads nothing for a while: the link holds at
// most its queue bound (kMaxQueuedBytes) and drops the rest, counted; once the peer reads,
// exactly the messages counted as sent arrive, whole and in order.
TEST(PeerSockets, ASlowPeerCostsAtMostTheQueueBoundAndEveryMessageIsCounted) {
  // The slow peer: a plain listener in this process.
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof a;
  getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);

  net::PeerNet::Handlers h;
  h.identify = [](const pb::PeerHello&, std::string_view) -> Result<NodeIndex> {
    return Status::PermissionDenied("no peers here");
  };
  h.deliver = [](NodeIndex, std::unique_ptr<pb::PeerBatch>) {};
  // PeerNet's own port: one the kernel just handed out (node addresses never name port 0).
  const int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in free_port{};
  free_port.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &free_port.sin_addr);
  socklen_t free_len = sizeof free_port;
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&free_port), sizeof free_port), 0);
  getsockname(probe, reinterpret_cast<sockaddr*>(&free_port), &free_len);
  close(probe);
  auto net = net::PeerNet::Listen(fmt::format("127.0.0.1:{}", ntohs(free_port.sin_port)),
                                  std::chrono::seconds(10), h);
  ASSERT_TRUE(net.ok()) << net.status().message();
  net.value()->Start(nullptr);
  net::SocketLink link(net.value().get(), Address{"127.0.0.1", static_cast<std::uint16_t>(port)},
                       "127.0.0.1:1", fmt::format("127.0.0.1:{}", port), "fp", "", {});

  constexpr int kMessages = 48;
  const std::string name(1 << 20, 'n');  // 1 MiB each: 48 MiB in all
  auto add = [&](int i) {
    pb::PeerMessage m;
    m.set_type(pb::UPDATE);
    m.set_token("1");
    m.set_op_id(static_cast<std::uint64_t>(i));
    m.mutable_value()->set_kind(pb::VALUE_DATA);
    m.mutable_value()->mutable_domain()->set_name(name);
    link.Add(std::move(m));
    link.Flush();
  };
  add(0);  // connects; the frame waits for 'k'
  const int fd = accept(listener, nullptr, nullptr);
  ASSERT_GE(fd, 0);
  // The hello alone arrives (magic, length, PeerHello), then we accept it.
  char hello[256];
  const ssize_t got = recv(fd, hello, sizeof hello, 0);
  ASSERT_GT(got, 8);
  EXPECT_EQ(std::string(hello, 4), "tkp1");
  EXPECT_EQ(static_cast<std::size_t>(got),
            8 + static_cast<std::size_t>(static_cast<unsigned char>(hello[4])));
  ASSERT_EQ(send(fd, "k", 1, 0), 1);
  for (int i = 0; i < 200 && !link.connected(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(link.connected());
  for (int i = 1; i < kMessages; ++i) add(i);
  // Not read: kernel buffers plus 8 MiB queued at most; the rest dropped.
  const std::uint64_t dropped = link.messages_dropped();
  EXPECT_GE(dropped, 20u);
  EXPECT_LT(dropped, static_cast<std::uint64_t>(kMessages));
  // Now read everything there is: whole frames, in op_id order, as many as counted sent.
  std::string in;
  std::vector<std::uint64_t> ids;
  for (int idle = 0; idle < 20;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) {
      ++idle;
      continue;
    }
    char buf[1 << 16];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    idle = 0;
    in.append(buf, static_cast<std::size_t>(n));
    while (in.size() >= 4) {
      const std::uint32_t size =
          static_cast<unsigned char>(in[0]) | (static_cast<unsigned char>(in[1]) << 8) |
          (static_cast<unsigned char>(in[2]) << 16) |
          (static_cast<std::uint32_t>(static_cast<unsigned char>(in[3])) << 24);
      if (in.size() < 4 + size) break;
      pb::PeerBatch batch;
      ASSERT_TRUE(batch.ParseFromArray(in.data() + 4, static_cast<int>(size)));
      for (const auto& m : batch.messages()) ids.push_back(m.op_id());
      in.erase(0, 4 + size);
    }
  }
  EXPECT_EQ(ids.size(), link.messages_sent());
  EXPECT_EQ(link.messages_sent() + link.messages_dropped(), static_cast<std::uint64_t>(kMessages));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(ids.front(), 0u);
  link.Close();
  net.value()->Stop();
  close(fd);
  close(listener);
}

TEST(PeerSockets, AnUnknownTransportIsABadFlag) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  auto r = c.Run("tokenserver",
                 {"--config", c.config(), "--node", c.node(0), "--listen", "127.0.0.1:1",
                  "--cluster-secret-file", c.secret_file(), "--peer-transport", "udp"},
                 20);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--peer-transport"));
}

}  // namespace
}  // namespace token
