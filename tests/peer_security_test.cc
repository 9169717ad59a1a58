// Hardened real nodes (issue 13, part A), with real tokenserver processes on loopback:
// peers authenticated by a cluster secret (forged updates, acknowledgements and floods
// refused, changing nothing), large values that never take a peer stream down, bounded
// errors, tokencluster refusing a cluster it did not start, idle streams that survive.
// Every process is stopped by the test; every wait is bounded.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/scheme_yaml.h"
#include "net_grpc/client.h"
#include "net_grpc/node_server.h"
#include "net_grpc/peer_auth.h"
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

std::unique_ptr<pb::Replica::Stub> ReplicaStub(const std::string& node) {
  return pb::Replica::NewStub(grpc::CreateCustomChannel(node, grpc::InsecureChannelCredentials(),
                                                        net::DefaultChannelArguments()));
}

// A unary Update of token 1 to `to`, claiming to come from `from`, with `proof` ("" none).
grpc::Status ForgeUpdate(const std::string& to, const std::string& from,
                         const std::string& fingerprint, const std::string& proof,
                         std::uint64_t version) {
  auto stub = ReplicaStub(to);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  ctx.AddMetadata("x-token-node", from);
  ctx.AddMetadata("x-token-scheme", fingerprint);
  if (!proof.empty()) ctx.AddMetadata("x-token-auth", proof);
  pb::UpdateRequest request;
  request.set_token("1");
  request.set_op_id(1);
  request.mutable_value()->set_version(version);
  request.mutable_value()->set_kind(pb::VALUE_DATA);
  auto* d = request.mutable_value()->mutable_domain();
  d->set_name("forged");
  d->set_low(0);
  d->set_mid(0);
  d->set_high(1);
  pb::UpdateAck ack;
  return stub->Update(&ctx, request, &ack);
}

TEST(PeerSecurity, AForgedUpdateWithTheLargestVersionIsRefusedAndChangesNothing) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  ASSERT_EQ(Json(WriteReal(c, "real"))["version"], 1);
  const std::string fp = Fingerprint(c);
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  // Everything an attacker without the secret can send: no proof, a malformed one, one
  // made with another secret, and a real node's proof made for another receiver.
  auto secret = net::LoadClusterSecret(c.secret_file());
  ASSERT_TRUE(secret.ok()) << secret.status().message();
  const std::string other(64, 'x');
  const std::vector<std::string> proofs = {
      "", "v1 garbage", net::MakePeerProof(other, "Update", c.node(0), c.node(2), fp),
      net::MakePeerProof(secret.value(), "Update", c.node(0), c.node(1), fp),
      net::MakePeerProof(secret.value(), "Query", c.node(0), c.node(2), fp)};
  for (const std::string& proof : proofs) {
    const grpc::Status s = ForgeUpdate(c.node(2), c.node(0), fp, proof, kMax);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << proof;
    EXPECT_THAT(s.error_message(), HasSubstr("authentication failed"));
    EXPECT_LT(s.error_message().size(), 400u);
  }
  // The same over a stream: the peer refuses the stream before any message is applied.
  {
    auto stub = ReplicaStub(c.node(2));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    ctx.AddMetadata("x-token-node", c.node(0));
    ctx.AddMetadata("x-token-scheme", fp);
    pb::DeliverSummary summary;
    auto writer = stub->Deliver(&ctx, &summary);
    pb::PeerBatch batch;
    pb::PeerMessage* m = batch.add_messages();
    m->set_type(pb::UPDATE);
    m->set_token("1");
    m->set_op_id(1);
    m->mutable_value()->set_version(kMax);
    m->mutable_value()->set_kind(pb::VALUE_EMPTY);
    writer->Write(batch);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // Nothing changed: node 2 still stores version 1, and reads (which impose what they
  // read on every replica) return the real value at every reader.
  const auto st = StatusOf(c, 2);
  EXPECT_EQ(st["tokens"][0]["version"], 1);
  EXPECT_EQ(st["peer_auth_refused"], proofs.size() + 1);
  for (int i = 0; i < 3; ++i) {
    auto r = Json(c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(i), "--json"}));
    EXPECT_EQ(r["version"], 1);
    EXPECT_EQ(r["name"], "real");
  }
  // The writer's later writes take effect.
  EXPECT_EQ(Json(WriteReal(c, "later"))["version"], 2);
  auto r = Json(c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(2), "--json"}));
  EXPECT_EQ(r["name"], "later");
  // The human-readable status shows the refusals too.
  auto text = c.Run("tokenclient", {"status", "--server", c.node(2)});
  EXPECT_THAT(text.out,
              HasSubstr(fmt::format("peer calls refused (authentication) {}", proofs.size() + 1)));
}

TEST(PeerSecurity, AValidProofOpensOneCallAndIsRefusedWhenReplayed) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  const std::string fp = Fingerprint(c);
  auto secret = net::LoadClusterSecret(c.secret_file());
  ASSERT_TRUE(secret.ok());
  const std::string proof = net::MakePeerProof(secret.value(), "Update", c.node(0), c.node(2), fp);
  EXPECT_TRUE(ForgeUpdate(c.node(2), c.node(0), fp, proof, 5).ok());
  const grpc::Status replay = ForgeUpdate(c.node(2), c.node(0), fp, proof, 6);
  EXPECT_EQ(replay.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(replay.error_message(), HasSubstr("used before"));
  // A proof from far in the past is refused even if never seen.
  const std::string old = net::MakePeerProofAt(secret.value(), "Update", c.node(0), c.node(2), fp,
                                               1'000, std::string(32, 'a'));
  EXPECT_THAT(ForgeUpdate(c.node(2), c.node(0), fp, old, 7).error_message(),
              HasSubstr("from this node's clock"));
  EXPECT_EQ(StatusOf(c, 2)["tokens"][0]["version"], 5);
}

// Token 1 falls silent at nodes 1 and 2: its writer, node 0, has no quorum left.
bool CrashTokenOneAtNodesOneAndTwo(const LocalCluster& c) {
  for (int n : {1, 2}) {
    auto r =
        c.Run("tokenclient", {"crash", "--node", c.node(n), "--id", "1", "--server", c.node(n)});
    if (r.exit_code != 0) {
      ADD_FAILURE() << r.err;
      return false;
    }
  }
  return true;
}

std::uint64_t WallClockMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// A cluster and the first operation ids its nodes can have drawn (net::FirstOpIdAtUnixMs
// of the millisecond each started in): an attacker who knows when the cluster started and
// the rule can name every candidate.
struct ClusterWithOpIds {
  std::uint64_t started_after_ms = WallClockMs();
  LocalCluster cluster;
  std::uint64_t serving_before_ms = WallClockMs();

  explicit ClusterWithOpIds(std::vector<std::string> args) : cluster(kScheme, 3, std::move(args)) {}
  std::vector<std::uint64_t> FirstOpIds() const {
    std::vector<std::uint64_t> ids;
    for (std::uint64_t ms = started_after_ms; ms <= serving_before_ms; ++ms) {
      ids.push_back(net::FirstOpIdAtUnixMs(ms));
    }
    return ids;
  }
};

// Floods node 0 with UPDATE_ACKs for every candidate id of its first operation from
// streams that claim to be nodes 1 and 2 (no proof) while the writer writes (its first
// operation); returns the write's result.
testing::ToolRun WriteUnderForgedAcks(const LocalCluster& c,
                                      const std::vector<std::uint64_t>& ids) {
  const std::string fp = Fingerprint(c);
  std::atomic<bool> stop{false};
  std::thread attacker([&] {
    auto stub = ReplicaStub(c.node(0));
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!stop && std::chrono::steady_clock::now() < end) {
      for (int from : {1, 2}) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
        ctx.AddMetadata("x-token-node", c.node(from));
        ctx.AddMetadata("x-token-scheme", fp);
        pb::DeliverSummary summary;
        auto writer = stub->Deliver(&ctx, &summary);
        pb::PeerBatch batch;
        for (const std::uint64_t op : ids) {
          pb::PeerMessage* m = batch.add_messages();
          m->set_type(pb::UPDATE_ACK);
          m->set_token("1");
          m->set_op_id(op);
        }
        writer->Write(batch);
        writer->WritesDone();
        (void)writer->Finish();
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto w = c.Run("tokenclient", {"write", "--id", "1", "--name", "w", "--low", "0", "--mid", "0",
                                 "--high", "1", "--server", c.node(0), "--timeout-ms", "1500"});
  stop = true;
  attacker.join();
  return w;
}

TEST(PeerSecurity, ForgedAcknowledgementsNeverCompleteAWrite) {
  const ClusterWithOpIds cw({"--quiet"});
  const LocalCluster& c = cw.cluster;
  // Both other replicas are silent for token 1: only forged acks could complete a write.
  ASSERT_TRUE(CrashTokenOneAtNodesOneAndTwo(c));
  auto w = WriteUnderForgedAcks(c, cw.FirstOpIds());
  EXPECT_EQ(w.exit_code, 1) << "a write acknowledged only by forged acks: " << w.out;
  EXPECT_THAT(w.err, HasSubstr("UNAVAILABLE"));
  EXPECT_GT(StatusOf(c, 0)["peer_auth_refused"].get<std::uint64_t>(), 0u);
}

TEST(PeerSecurity, WithoutAuthenticationTheSameForgedAcknowledgementsDoCompleteAWrite) {
  // The control of the test above: with --insecure-peers the attack works, so the test
  // above would see it.
  const ClusterWithOpIds cw({"--quiet", "--insecure-peers"});
  const LocalCluster& c = cw.cluster;
  ASSERT_TRUE(CrashTokenOneAtNodesOneAndTwo(c));
  auto w = WriteUnderForgedAcks(c, cw.FirstOpIds());
  EXPECT_EQ(w.exit_code, 0) << w.err;
  EXPECT_THAT(testing::ReadText(c.LogOf(c.node(0))), HasSubstr("WARNING: --insecure-peers"));
}

// Opens `streams` Deliver streams to the stub's node, each claiming to come from `from`
// (without a proof) and carrying 100 QUERY messages about token 1; returns how many were
// refused (PERMISSION_DENIED).
int FloodForgedQueryStreams(pb::Replica::Stub& stub, const std::string& from,
                            const std::string& fingerprint, int streams) {
  int refused = 0;
  for (int i = 0; i < streams; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.AddMetadata("x-token-node", from);
    ctx.AddMetadata("x-token-scheme", fingerprint);
    pb::DeliverSummary summary;
    auto writer = stub.Deliver(&ctx, &summary);
    pb::PeerBatch batch;
    for (int q = 0; q < 100; ++q) {
      pb::PeerMessage* m = batch.add_messages();
      m->set_type(pb::QUERY);
      m->set_token("1");
      m->set_op_id(static_cast<std::uint64_t>(i * 100 + q));
    }
    writer->Write(batch);
    writer->WritesDone();
    if (writer->Finish().error_code() == grpc::StatusCode::PERMISSION_DENIED) ++refused;
  }
  return refused;
}

TEST(PeerSecurity, AFloodOfForgedQueriesIsRefusedCheaplyAndTheNodeKeepsServing) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  const std::string fp = Fingerprint(c);
  auto channel = grpc::CreateCustomChannel(c.node(1), grpc::InsecureChannelCredentials(),
                                           net::DefaultChannelArguments());
  auto stub = pb::Replica::NewStub(channel);
  // The peer streams are up before the flood (a new connection to a node swamped by 20,000
  // calls may take long, especially under ASan).
  EXPECT_EQ(Json(WriteReal(c, "before"))["version"], 1);
  constexpr int kCalls = 20'000;
  struct Pending {
    grpc::ClientContext ctx;
    pb::QueryRequest request;
    pb::PeerMessage reply;
  };
  std::vector<std::unique_ptr<Pending>> calls;
  std::atomic<int> done{0}, refused{0};
  const auto flood_start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    auto p = std::make_unique<Pending>();
    p->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    p->ctx.AddMetadata("x-token-node", c.node(0));
    p->ctx.AddMetadata("x-token-scheme", fp);
    p->ctx.AddMetadata("x-token-auth",
                       fmt::format("v1 {} {} {}", i, std::string(32, 'a'), std::string(64, 'b')));
    p->request.set_token("1");
    p->request.set_op_id(static_cast<std::uint64_t>(i));
    stub->async()->Query(&p->ctx, &p->request, &p->reply, [&](grpc::Status s) {
      if (s.error_code() == grpc::StatusCode::PERMISSION_DENIED) ++refused;
      ++done;
    });
    calls.push_back(std::move(p));
  }
  // Meanwhile the cluster serves.
  EXPECT_EQ(Json(WriteReal(c, "during"))["version"], 2);
  // And 500 forged streams of 100 queries each, which an unauthenticated node would answer
  // by sending 50,000 replies to the node they claim to come from.
  constexpr int kStreams = 500;
  EXPECT_EQ(FloodForgedQueryStreams(*stub, c.node(0), fp, kStreams), kStreams);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (done < kCalls && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(done, kCalls);
  EXPECT_EQ(refused, kCalls);
  // For the record (not a bound: the machine is shared): how long the flood took, a normal
  // write included (the streams one at a time, the queries all at once).
  std::printf(
      "%d forged queries and %d forged streams refused in %.2f s\n", kCalls, kStreams,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - flood_start).count());
  const auto st = StatusOf(c, 1);
  EXPECT_EQ(st["peer_auth_refused"], kCalls + kStreams);
  EXPECT_EQ(st["tokens"][0]["version"], 2);
  // No reply was reflected: the node sent (or tried to send) only the few messages of the
  // two writes, not one per forged query. And the log stays small: a line at the 1st, 2nd,
  // 4th, ... refusal.
  EXPECT_LT(st["peer_messages_out"].get<std::uint64_t>() +
                st["peer_messages_dropped"].get<std::uint64_t>(),
            20u);
  const std::string log = testing::ReadText(c.LogOf(c.node(1)));
  std::size_t lines = 0;
  for (auto p = log.find("refused a peer"); p != std::string::npos;
       p = log.find("refused a peer", p + 1)) {
    ++lines;
  }
  EXPECT_LE(lines, 16u);
  EXPECT_GE(lines, 1u);
}

TEST(PeerSecurity, WithoutAuthenticationForgedQueryStreamsAreAnswered) {
  // The control of the flood test: with --insecure-peers the node answers the forged
  // queries, sending (or dropping) a reply for each, which the check above would see.
  LocalCluster c(kScheme, 3, {"--quiet", "--insecure-peers"});
  EXPECT_EQ(Json(WriteReal(c, "before"))["version"], 1);
  auto stub = ReplicaStub(c.node(1));
  EXPECT_EQ(FloodForgedQueryStreams(*stub, c.node(0), Fingerprint(c), 20), 0);
  std::uint64_t attempted = 0;
  for (int k = 0; k < 100 && attempted < 1000; ++k) {
    const auto st = StatusOf(c, 1);
    attempted = st["peer_messages_out"].get<std::uint64_t>() +
                st["peer_messages_dropped"].get<std::uint64_t>();
    if (attempted < 1000) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(attempted, 1000u);
}

TEST(PeerSecurity, ANodeWithPeersNeedsAWayToAuthenticateThem) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  // Node 0's identity bound elsewhere: each start below fails before it binds.
  auto plain = c.Run("tokenserver",
                     {"--config", c.config(), "--node", c.node(0), "--listen", "127.0.0.1:1"}, 20);
  EXPECT_EQ(plain.exit_code, 2) << plain.err;
  EXPECT_THAT(plain.err, HasSubstr("--cluster-secret-file"));
  EXPECT_THAT(plain.err, HasSubstr("--insecure-peers"));
  // A secret others may read is refused, so is one too short.
  auto start_with_secret = [&](const std::string& name, const std::string& content, mode_t mode) {
    const std::string file = c.dir() + "/" + name;
    std::ofstream(file) << content << "\n";
    ::chmod(file.c_str(), mode);
    return c.Run("tokenserver",
                 {"--config", c.config(), "--node", c.node(0), "--listen", "127.0.0.1:1",
                  "--cluster-secret-file", file},
                 20);
  };
  auto open = start_with_secret("open-secret", std::string(64, 'k'), 0644);
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_THAT(open.err, HasSubstr("others may read"));
  auto too_short = start_with_secret("short-secret", "abc", 0600);
  EXPECT_EQ(too_short.exit_code, 2);
  EXPECT_THAT(too_short.err, HasSubstr("3 bytes; a secret has 32 to 4096 bytes"));
}

// ---- large values ---------------------------------------------------------------------

constexpr const char* kFourTokens = R"(
- token: a
  writer: NODE0
  readers: [NODE0, NODE1, NODE2]
- token: b
  writer: NODE0
  readers: [NODE0, NODE1, NODE2]
- token: c
  writer: NODE0
  readers: [NODE0, NODE1, NODE2]
- token: d
  writer: NODE0
  readers: [NODE0, NODE1, NODE2]
)";

TEST(LargeValues, FourConcurrentWritesOfHugeNamesNeverBreakAPeerStream) {
  LocalCluster c(kFourTokens, 3, {"--quiet"});
  auto loaded = LoadSchemeFile(c.config());
  ASSERT_TRUE(loaded.ok());
  auto scheme = std::make_shared<const ReplicationScheme>(std::move(loaded).value());
  auto client = net::TokenClient::ForScheme(scheme);
  ASSERT_TRUE(client.ok());
  const std::string big(2'500'000, 'n');
  std::vector<std::thread> writers;
  std::vector<grpc::Status> results(4);
  for (int i = 0; i < 4; ++i) {
    writers.emplace_back([&, i] {
      const std::string id(1, static_cast<char>('a' + i));
      results[static_cast<std::size_t>(i)] =
          client.value()->Write(id, Domain{big + id, 0, 1, 2}, std::chrono::seconds(20)).status;
    });
  }
  for (auto& t : writers) t.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.error_message();
  // The next small write succeeds, and every replica holds the big values.
  auto small = client.value()->Write("a", Domain{"small", 0, 1, 2}, std::chrono::seconds(5));
  EXPECT_TRUE(small.ok()) << small.status.error_message();
  for (int i = 0; i < 3; ++i) {
    auto node = net::TokenClient::ForServer(c.node(i));
    ASSERT_TRUE(node.ok());
    auto r = node.value()->Read("d", std::chrono::seconds(10));
    ASSERT_TRUE(r.ok()) << r.status.error_message();
    EXPECT_EQ(r.reply.domain().name().size(), big.size() + 1);
    EXPECT_EQ(StatusOf(c, i)["peer_messages_dropped"], 0);
    EXPECT_THAT(testing::ReadText(c.LogOf(c.node(i))), ::testing::Not(HasSubstr("stream down")));
  }
}

TEST(LargeValues, ANameOverTheLimitIsRefusedAtTheClientAndAtTheCoordinator) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  auto client = net::TokenClient::ForServer(c.node(0));
  ASSERT_TRUE(client.ok());
  const std::string too_long(kMaxNameBytes + 1, 'x');
  auto local = client.value()->Write("1", Domain{too_long, 0, 1, 2}, std::chrono::seconds(5));
  EXPECT_EQ(local.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(local.status.error_message(), HasSubstr("at most 3145728 bytes"));
  EXPECT_EQ(StatusOf(c, 0)["client_calls"], 0) << "refused before it left the client";
  // Sent anyway, past the client: the coordinator refuses it the same way.
  auto stub = pb::TokenManager::NewStub(grpc::CreateCustomChannel(
      c.node(0), grpc::InsecureChannelCredentials(), net::DefaultChannelArguments()));
  pb::WriteRequest request;
  request.set_id("1");
  request.set_name(too_long);
  request.set_mid(1);
  request.set_high(2);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  pb::TokenReply reply;
  const grpc::Status s = stub->Write(&ctx, request, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("name too long: 3145729 bytes"));
  EXPECT_EQ(StatusOf(c, 1)["tokens"][0]["version"], 0);
}

// ---- bad requests -----------------------------------------------------------------------

struct BadRequest {
  std::string file, method, bytes, code, contains;
};

std::vector<BadRequest> LoadBadRequests() {
  std::vector<BadRequest> out;
  for (const auto& entry : std::filesystem::directory_iterator(TOKEN_BAD_REQUESTS_DIR)) {
    if (entry.path().extension() != ".req") continue;
    BadRequest r;
    r.file = entry.path().filename().string();
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string key = line.substr(0, colon);
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (key == "method") r.method = value;
      if (key == "code") r.code = value;
      if (key == "contains") r.contains = value;
      if (key == "hex") {
        std::string hex;
        for (char ch : value) {
          if (ch != ' ') hex += ch;
        }
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
          r.bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
        }
      }
    }
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const BadRequest& a, const BadRequest& b) { return a.file < b.file; });
  return out;
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    default:
      return fmt::format("code {}", static_cast<int>(code));
  }
}

TEST(BadRequests, EveryRequestOfTheCorpusGetsItsClearBoundedError) {
  const auto corpus = LoadBadRequests();
  ASSERT_GE(corpus.size(), 10u);
  LocalCluster c(kScheme, 3, {"--quiet"});
  grpc::GenericStub stub(grpc::CreateCustomChannel(c.node(0), grpc::InsecureChannelCredentials(),
                                                   net::DefaultChannelArguments()));
  for (const BadRequest& r : corpus) {
    SCOPED_TRACE(r.file);
    ASSERT_FALSE(r.method.empty());
    grpc::Slice slice(r.bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    stub.UnaryCall(&ctx, r.method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      std::lock_guard lock(mu);
      status = std::move(s);
      done = true;
      cv.notify_one();
    });
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; }));
    EXPECT_EQ(CodeName(status.error_code()), r.code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(r.contains));
    EXPECT_LT(status.error_message().size(), 1100u);
  }
  // The node is unharmed.
  EXPECT_EQ(Json(WriteReal(c, "after"))["version"], 1);
}

TEST(BadRequests, AnErrorRepeatingAHugeTokenIdIsCutShort) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  auto client = net::TokenClient::ForServer(c.node(0));
  ASSERT_TRUE(client.ok());
  const std::string id(100'000, 'q');
  auto r = client.value()->Read(id, std::chrono::seconds(5));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(r.status.error_message(), HasSubstr("...(100000 bytes)"));
  EXPECT_LT(r.status.error_message().size(), 300u);
}

// ---- tokencluster ---------------------------------------------------------------------

TEST(Tokencluster, RefusesAClusterWhoseAddressesOtherProcessesHold) {
  LocalCluster c(kScheme, 3, {"--quiet"});  // these nodes hold the scheme's ports
  const std::string logs = c.dir() + "/tokencluster-logs";
  auto r = c.Run("tokencluster",
                 {"--config", c.config(), "--log-dir", logs, "--quiet", "--ready-timeout-ms",
                  "5000", "--", "true"},
                 60);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("nodes serving")));
  EXPECT_THAT(r.err, HasSubstr("node " + c.node(0)));
  EXPECT_THAT(r.err, HasSubstr(logs + "/127.0.0.1_"));
  // The other processes' nodes are untouched.
  EXPECT_EQ(Json(WriteReal(c, "still"))["version"], 1);
}

TEST(Tokencluster, StartsItsOwnAuthenticatedClusterWhenThePortsAreFree) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  for (int i = 0; i < 3; ++i) c.process(i).Stop();  // frees the ports
  const std::string logs = c.dir() + "/tokencluster-logs";
  auto r = c.Run("tokencluster", {"--config", c.config(),    "--log-dir", logs,       "--quiet",
                                  "--",       "tokenclient", "write",     "--id",     "1",
                                  "--name",   "x",           "--low",     "0",        "--mid",
                                  "0",        "--high",      "1",         "--config", c.config()},
                 60);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("3 nodes serving"));
  EXPECT_THAT(r.out, HasSubstr("write 1: version 1"));
  EXPECT_THAT(testing::ReadText(logs + "/" + c.LogOf(c.node(0)).substr(c.dir().size() + 1)),
              HasSubstr("peers authenticated by the cluster secret"));
}

// ---- deadlines ----------------------------------------------------------------------------

TEST(Deadlines, ACallerHearsWhyBeforeItsDeadlineAndTheOpTimeoutNeverCutsIt) {
  // --op-timeout-ms 200 applies only to callers without a deadline.
  LocalCluster c(kScheme, 3, {"--quiet", "--op-timeout-ms", "200"});
  ASSERT_TRUE(CrashTokenOneAtNodesOneAndTwo(c));
  auto client = net::TokenClient::ForServer(c.node(0));
  ASSERT_TRUE(client.ok());
  // Short deadlines: every caller gets UNAVAILABLE with the reason, not DEADLINE_EXCEEDED.
  int unavailable = 0;
  for (int i = 0; i < 20; ++i) {
    auto w = client.value()->Write("1", Domain{"x", 0, 0, 1}, std::chrono::milliseconds(300));
    EXPECT_EQ(w.status.error_code(), grpc::StatusCode::UNAVAILABLE) << w.status.error_message();
    if (w.status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      ++unavailable;
      EXPECT_THAT(w.status.error_message(), HasSubstr("no quorum of its replicas"));
    }
  }
  EXPECT_EQ(unavailable, 20);
  // A caller's longer deadline (3 s) is not cut to the node's 200 ms op timeout.
  const auto start = std::chrono::steady_clock::now();
  auto w = client.value()->Write("1", Domain{"x", 0, 0, 1}, std::chrono::seconds(3));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(w.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_GE(took, std::chrono::milliseconds(2'500));
}

// ---- keepalive ----------------------------------------------------------------------------

TEST(Keepalive, IdlePeerLinksSurviveManyKeepaliveIntervals) {
  // Every process of this test pings every 100 ms; idle for 6 s = 60 intervals. Before the
  // servers accepted such pings, the streams died with GOAWAY too_many_pings after two.
  // Peer sockets (the default) keep their connections idle too (TCP keepalive).
  ::setenv("TOKEN_KEEPALIVE_MS", "100", 1);
  for (const char* transport : {"socket", "grpc"}) {
    LocalCluster c(kScheme, 3, {"--quiet", "--peer-transport", transport});
    EXPECT_EQ(Json(WriteReal(c, "first"))["version"], 1);
    std::this_thread::sleep_for(std::chrono::seconds(6));
    EXPECT_EQ(Json(WriteReal(c, "second"))["version"], 2);
    for (int i = 0; i < 3; ++i) {
      const std::string log = testing::ReadText(c.LogOf(c.node(i)));
      EXPECT_THAT(log, ::testing::Not(HasSubstr("stream down"))) << transport << log;
      EXPECT_THAT(log, ::testing::Not(HasSubstr("socket down"))) << transport << log;
      EXPECT_EQ(StatusOf(c, i)["peer_messages_dropped"], 0) << transport;
    }
  }
  ::unsetenv("TOKEN_KEEPALIVE_MS");
}

TEST(Keepalive, AKeepaliveSettingOutOfRangeIsRefused) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  ::setenv("TOKEN_KEEPALIVE_MS", "5", 1);
  auto r = c.Run("tokenserver",
                 {"--config", c.config(), "--node", c.node(0), "--listen", "127.0.0.1:1",
                  "--cluster-secret-file", c.secret_file()},
                 20);
  ::unsetenv("TOKEN_KEEPALIVE_MS");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("TOKEN_KEEPALIVE_MS='5': expected a number of milliseconds in "
                               "100..3600000"));
}

}  // namespace
}  // namespace token
