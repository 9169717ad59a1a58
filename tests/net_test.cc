// End-to-end tests with real tokenserver processes on loopback, driven through the
// command-line tools (tokenclient, tokenload) as users drive them. Every process is
// stopped by the test; every tool run is bounded in time.
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/scheme_yaml.h"
#include "net_grpc/client.h"
#include "net_grpc/node_server.h"
#include "net_grpc/peer_auth.h"
#include "support/local_cluster.h"

namespace token {
namespace {

using ::testing::HasSubstr;
using testing::LocalCluster;

// Token 1 on three nodes (writer NODE0); token acct-7 on NODE1 and NODE2 (writer NODE1).
constexpr const char* kScheme = R"(
- token: 1
  writer: NODE0
  readers: [NODE0, NODE1, NODE2]
- token: acct-7
  writer: NODE1
  readers: [NODE1, NODE2]
)";

nlohmann::json Json(const testing::ToolRun& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(Net, TranscriptOfTheOriginalSystemThroughTokenclient) {
  LocalCluster c(kScheme, 3);
  // The original client's flags, at the writer.
  const auto host_port = c.node(0);
  const auto colon = host_port.rfind(':');
  auto w = c.Run("tokenclient", {"-write", "-id", "1", "-name", "abc", "-low", "5", "-mid", "25",
                                 "-high", "100", "-host", host_port.substr(0, colon), "-port",
                                 host_port.substr(colon + 1), "--json"});
  auto wj = Json(w);
  EXPECT_EQ(wj["version"], 1);
  EXPECT_EQ(wj["name"], "abc");
  // Then a read through the scheme (a random reader).
  auto r = c.Run("tokenclient", {"read", "--id", "1", "--config", c.config(), "--json"});
  auto rj = Json(r);
  EXPECT_EQ(rj["version"], 1);
  EXPECT_EQ(rj["final"]["x"], 70);
  EXPECT_EQ(rj["final"]["hash"].get<std::uint64_t>(), 60570345165277511ULL);
  // The human-readable form carries the same numbers.
  auto h = c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(2)});
  EXPECT_EQ(h.exit_code, 0) << h.err;
  EXPECT_THAT(h.out, HasSubstr("final x=70 hash=60570345165277511"));
}

TEST(Net, RequestsAtTheWrongNodeAreRejectedNamingTheRightOnes) {
  LocalCluster c(kScheme, 3);
  auto w = c.Run("tokenclient", {"write", "--id", "1", "--name", "x", "--low", "0", "--mid", "1",
                                 "--high", "2", "--server", c.node(1)});
  EXPECT_EQ(w.exit_code, 1);
  EXPECT_TRUE(w.out.empty());
  EXPECT_THAT(w.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(w.err, HasSubstr("its writer " + c.node(0)));
  auto r = c.Run("tokenclient", {"read", "--id", "acct-7", "--server", c.node(0)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(r.err, HasSubstr(c.node(1) + ", " + c.node(2)));
  auto bad = c.Run("tokenclient", {"write", "--id", "1", "--name", "x", "--low", "9", "--mid", "3",
                                   "--high", "20", "--server", c.node(0)});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT"));
  auto unknown = c.Run("tokenclient", {"read", "--id", "nope", "--server", c.node(0)});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND"));
  // None of that changed anything: the token is still at its initial value.
  auto s = c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(0), "--json"});
  EXPECT_EQ(Json(s)["version"], 0);
  EXPECT_EQ(Json(s)["kind"], "initial");
}

TEST(Net, MinorityCrashedForATokenOperationsCompleteOtherTokensUntouched) {
  LocalCluster c(kScheme, 3);
  auto crash =
      c.Run("tokenclient", {"crash", "--node", c.node(2), "--id", "1", "--config", c.config()});
  ASSERT_EQ(crash.exit_code, 0) << crash.err;
  for (int i = 0; i < 5; ++i) {
    auto w =
        c.Run("tokenclient", {"write", "--id", "1", "--name", fmt::format("v{}", i), "--low", "0",
                              "--mid", "4", "--high", "8", "--config", c.config(), "--json"});
    EXPECT_EQ(Json(w)["version"], i + 1);
    // Reads fail over from the crashed reader to a live one.
    auto r = c.Run("tokenclient",
                   {"read", "--id", "1", "--config", c.config(), "--json", "--timeout-ms", "3000"});
    EXPECT_EQ(Json(r)["name"], fmt::format("v{}", i));
  }
  // The crashed node still serves its other token.
  auto w = c.Run("tokenclient", {"write", "--id", "acct-7", "--name", "a", "--low", "0", "--mid",
                                 "1", "--high", "2", "--config", c.config(), "--json"});
  EXPECT_EQ(Json(w)["version"], 1);
  auto r = c.Run("tokenclient", {"read", "--id", "acct-7", "--server", c.node(2), "--json"});
  EXPECT_EQ(Json(r)["name"], "a");
  // And it never answers about token 1 again.
  auto silent =
      c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(2), "--timeout-ms", "300"});
  EXPECT_EQ(silent.exit_code, 1);
  EXPECT_THAT(silent.err, HasSubstr("DEADLINE_EXCEEDED"));
}

TEST(Net, MajorityCrashedGivesAClearErrorWithinTheDeadlineNeverAWrongValue) {
  LocalCluster c(kScheme, 3);
  auto w0 = c.Run("tokenclient", {"write", "--id", "1", "--name", "before", "--low", "0", "--mid",
                                  "1", "--high", "2", "--config", c.config(), "--json"});
  ASSERT_EQ(Json(w0)["version"], 1);
  for (int n : {1, 2}) {
    auto crash =
        c.Run("tokenclient", {"crash", "--node", c.node(n), "--id", "1", "--config", c.config()});
    ASSERT_EQ(crash.exit_code, 0) << crash.err;
  }
  const auto start = std::chrono::steady_clock::now();
  auto w =
      c.Run("tokenclient", {"write", "--id", "1", "--name", "after", "--low", "0", "--mid", "1",
                            "--high", "2", "--config", c.config(), "--timeout-ms", "1000"});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(w.exit_code, 1);
  EXPECT_THAT(w.err, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(w.err, HasSubstr("no quorum of its replicas"));
  EXPECT_LT(took, std::chrono::seconds(5)) << "the error comes within the deadline";
  auto r =
      c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(0), "--timeout-ms", "1000"});
  EXPECT_EQ(r.exit_code, 1) << "a read without a quorum must not answer: " << r.out;
  EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
}

// Five nodes: token a on all five (quorum 3), token b on four (writer NODE1, quorum 3).
constexpr const char* kFiveNodes = R"(
- token: a
  writer: NODE0
  readers: [NODE0, NODE1, NODE2, NODE3, NODE4]
- token: b
  writer: NODE1
  readers: [NODE1, NODE2, NODE3, NODE4]
)";

TEST(Net, LoadWithCrashesGivesALinearizableHistory) {
  LocalCluster c(kFiveNodes, 5, {"--quiet"});
  const std::string history = c.dir() + "/history.jsonl";
  const std::string report = c.dir() + "/report.html";
  auto load = c.Run("tokenload",
                    {"--config",
                     c.config(),
                     "--clients",
                     "16",
                     "--ops",
                     "3000",
                     "--read-ratio",
                     "0.5",
                     "--timeout-ms",
                     "500",
                     "--crash",
                     c.node(3) + ":a@100",
                     "--crash",
                     c.node(2) + ":b@150",
                     "--crash",
                     c.node(4) + ":a@200",
                     "--final-reads",
                     "--history",
                     history,
                     "--html",
                     report,
                     "--seed",
                     "7"},
                    120);
  EXPECT_EQ(load.exit_code, 0) << load.out << load.err;
  EXPECT_THAT(load.out, HasSubstr("verdict: linearizable"));
  EXPECT_THAT(load.out, HasSubstr("crashed at"));
  // The report marks the three crashes, each on its token.
  std::ifstream page_file(report);
  const std::string page((std::istreambuf_iterator<char>(page_file)),
                         std::istreambuf_iterator<char>());
  EXPECT_THAT(page, HasSubstr("\"faultCount\":3,"));
  EXPECT_THAT(page, HasSubstr("\"verdict\":\"linearizable\""));
  // The recorded history stands on its own: tokencheck agrees.
  auto check = c.Run("tokencheck", {history});
  EXPECT_EQ(check.exit_code, 0) << check.out;
}

TEST(Net, KillingANodeProcessMidRunLosesNoAcknowledgedWrite) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  const std::string history = c.dir() + "/history.jsonl";
  // The load on token 1 runs in the background; node 2 (a replica, not the writer) dies by
  // SIGKILL once the load is under way.
  auto load = tokenapp::ChildProcess::Start(
      {LocalCluster::Bin("tokenload"), "--config", c.config(), "--clients", "16", "--ops", "6000",
       "--read-ratio", "0.5", "--timeout-ms", "500", "--final-reads", "--history", history,
       "--seed", "11", "--tokens", "1"},
      c.dir() + "/load.log");
  ASSERT_TRUE(load.ok());
  // Wait for the load to be under way: the history file is written at the end, so watch
  // the writer's replica version through the admin API instead.
  auto client = net::TokenClient::ForServer(c.node(0));
  ASSERT_TRUE(client.ok());
  bool under_way = false;
  for (int i = 0; i < 500 && !under_way; ++i) {
    auto s = client.value()->NodeStatus(c.node(0), std::chrono::milliseconds(500));
    under_way = s.ok() && s.reply.tokens_size() > 0 && s.reply.tokens(0).stored().version() >= 50;
    if (!under_way) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(under_way) << "the load never got going";
  c.process(2).Kill();
  auto status = load.value().WaitFor(std::chrono::seconds(120));
  ASSERT_TRUE(status.has_value()) << "tokenload did not finish";
  const std::string log = testing::ReadText(c.dir() + "/load.log");
  EXPECT_EQ(WEXITSTATUS(*status), 0) << log;
  EXPECT_THAT(log, HasSubstr("verdict: linearizable"));
  // The final reads (one per live reader, after the load) are part of the checked history:
  // a lost acknowledged write would make them stale reads. Check it once more from the file.
  auto check = c.Run("tokencheck", {history});
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_THAT(testing::ReadText(history), HasSubstr("\"closing_read\":true"));
}

// A CA and one certificate for 127.0.0.1 (every node and the client use it here).
void MakeCertificates(const std::string& dir) {
  const std::string script = fmt::format(
      "cd '{}' && "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj /CN=token-test-ca 2>/dev/null && "
      "openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr "
      "-subj /CN=127.0.0.1 2>/dev/null && "
      "printf 'subjectAltName=IP:127.0.0.1' > san.ext && "
      "openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem "
      "-days 2 -extfile san.ext 2>/dev/null",
      dir);
  ASSERT_EQ(std::system(script.c_str()), 0) << "openssl could not make test certificates";
}

TEST(Net, MutualTlsBetweenNodesAndClients) {
  const std::vector<std::string> tls_flags = {"--tls-cert",    "$DIR/node.pem", "--tls-key",
                                              "$DIR/node.key", "--tls-ca",      "$DIR/ca.pem"};
  std::vector<std::string> server_flags = tls_flags;
  server_flags.push_back("--quiet");
  LocalCluster c(kScheme, 3, server_flags, MakeCertificates,
                 net::TlsFiles{"$DIR/node.pem", "$DIR/node.key", "$DIR/ca.pem"});
  std::vector<std::string> client = {"--config",
                                     c.config(),
                                     "--json",
                                     "--tls-cert",
                                     c.dir() + "/node.pem",
                                     "--tls-key",
                                     c.dir() + "/node.key",
                                     "--tls-ca",
                                     c.dir() + "/ca.pem"};
  auto args = [&](std::vector<std::string> a) {
    a.insert(a.end(), client.begin(), client.end());
    return a;
  };
  auto w = c.Run("tokenclient", args({"write", "--id", "1", "--name", "abc", "--low", "5", "--mid",
                                      "25", "--high", "100"}));
  EXPECT_EQ(Json(w)["version"], 1);
  auto r = c.Run("tokenclient", args({"read", "--id", "1"}));
  EXPECT_EQ(Json(r)["final"]["x"], 70);
  // A client without a certificate is refused.
  auto plain =
      c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(0), "--timeout-ms", "1000"});
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_THAT(plain.err, HasSubstr("UNAVAILABLE"));
  // Missing TLS files are a clear error, not a hang.
  auto missing = c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(0), "--tls-cert",
                                       c.dir() + "/nope.pem", "--tls-key", c.dir() + "/node.key",
                                       "--tls-ca", c.dir() + "/ca.pem"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("nope.pem"));
}

TEST(Net, ReplicaCallsFromOutsideTheSchemeAreRefused) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  auto stub = tokenmgr::v1::Replica::NewStub(
      grpc::CreateChannel(c.node(0), grpc::InsecureChannelCredentials()));
  auto secret = net::LoadClusterSecret(c.secret_file());
  ASSERT_TRUE(secret.ok()) << secret.status().message();
  auto update = [&](const std::string& who, const std::string& scheme, const std::string& token) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    if (!who.empty()) ctx.AddMetadata("x-token-node", who);
    if (!scheme.empty()) ctx.AddMetadata("x-token-scheme", scheme);
    // A proof of the cluster secret for this call (peer_auth.h), as a genuine node sends.
    ctx.AddMetadata("x-token-auth",
                    net::MakePeerProof(secret.value(), "Update", who, c.node(0), scheme));
    tokenmgr::v1::UpdateRequest request;
    request.set_token(token);
    request.set_op_id(1);
    request.mutable_value()->set_version(99);
    request.mutable_value()->set_kind(tokenmgr::v1::VALUE_EMPTY);
    tokenmgr::v1::UpdateAck ack;
    return stub->Update(&ctx, request, &ack);
  };
  auto scheme = LoadSchemeFile(c.config());
  ASSERT_TRUE(scheme.ok());
  const std::string fingerprint = net::SchemeFingerprint(scheme.value());
  EXPECT_EQ(update("", "", "1").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(update("127.0.0.1:1", fingerprint, "1").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(update(c.node(1), "0000", "1").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // NODE0 is not a replica of acct-7: a message about it from NODE1 is refused.
  EXPECT_EQ(update(c.node(1), fingerprint, "acct-7").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // None of it changed anything.
  auto r = c.Run("tokenclient", {"read", "--id", "1", "--server", c.node(0), "--json"});
  EXPECT_EQ(Json(r)["version"], 0);
  // A genuine replica's unary Update is applied and acknowledged.
  EXPECT_TRUE(update(c.node(1), fingerprint, "1").ok());
  auto after = c.Run("tokenclient", {"status", "--server", c.node(0), "--json"});
  EXPECT_EQ(Json(after)["tokens"][0]["version"], 99);
}

TEST(Net, TenThousandCallsHeldByACrashedTokenCostNoThreadAndExpire) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  auto scheme = LoadSchemeFile(c.config());
  ASSERT_TRUE(scheme.ok());
  ASSERT_EQ(
      c.Run("tokenclient", {"crash", "--node", c.node(2), "--id", "1", "--config", c.config()})
          .exit_code,
      0);
  // 10,000 reads of token 1 at node 2, each with a 4 s deadline, in flight at once.
  auto channel = grpc::CreateChannel(c.node(2), grpc::InsecureChannelCredentials());
  auto stub = tokenmgr::v1::TokenManager::NewStub(channel);
  constexpr int kCalls = 10'000;
  struct Pending {
    grpc::ClientContext ctx;
    tokenmgr::v1::ReadRequest request;
    tokenmgr::v1::TokenReply reply;
  };
  std::vector<std::unique_ptr<Pending>> calls;
  std::atomic<int> done{0}, deadline_exceeded{0};
  for (int i = 0; i < kCalls; ++i) {
    auto p = std::make_unique<Pending>();
    p->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(4));
    p->request.set_id("1");
    stub->async()->Read(&p->ctx, &p->request, &p->reply, [&](grpc::Status s) {
      if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) ++deadline_exceeded;
      ++done;
    });
    calls.push_back(std::move(p));
  }
  auto client = net::TokenClient::ForServer(c.node(2));
  ASSERT_TRUE(client.ok());
  // Meanwhile the node serves its other token.
  int served = 0;
  for (int i = 0; i < 50; ++i) {
    auto r = client.value()->Read("acct-7", std::chrono::milliseconds(1000));
    EXPECT_TRUE(r.ok()) << r.status.error_message();
    served += r.ok();
  }
  EXPECT_EQ(served, 50);
  auto held = client.value()->NodeStatus(c.node(2), std::chrono::seconds(1));
  ASSERT_TRUE(held.ok());
  EXPECT_GT(held.reply.held_calls(), 0u);
  EXPECT_LE(held.reply.held_calls(), static_cast<std::uint64_t>(kCalls));
  // Every held call ends at its caller's deadline, and the node forgets it.
  for (int i = 0; i < 1000 && done.load() < kCalls; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(done.load(), kCalls);
  EXPECT_EQ(deadline_exceeded.load(), kCalls);
  std::uint64_t left = 1;
  for (int i = 0; i < 200 && left > 0; ++i) {
    auto s = client.value()->NodeStatus(c.node(2), std::chrono::seconds(1));
    left = s.ok() ? s.reply.held_calls() : 1;
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(left, 0u) << "held calls are released when their callers give up";
}

}  // namespace
}  // namespace token
