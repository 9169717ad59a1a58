// End-to-end tests with real tokenserver processes on loopback, driven through the
// command-line tools (tokenclient, tokenload) as users drive them. Every process is
// stopped by the test; every tool run is bounded in time.
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

// A cluster keeps its values between loads. A second tokenload reads what each token holds
// first (data, or an empty token created since) and records it as written before its load,
// and tags its own names, so its reads of what the first run left are not "read of a value
// never written" (as they were before).
TEST(Net, ASecondLoadOnTheSameClusterStartsFromWhatTheFirstLeft) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  std::vector<std::string> args = {"--config", c.config(), "--clients",    "2",  "--ops", "200",
                                   "--seed",   "3",        "--read-ratio", "0.5"};
  auto first = c.Run("tokenload", args, 60);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  // acct-7 created again: empty, at a version above 0 (reads of it are not of null).
  auto create = c.Run("tokenclient", {"--config", c.config(), "create", "acct-7"});
  ASSERT_EQ(create.exit_code, 0) << create.out << create.err;
  const std::string history = c.dir() + "/second.jsonl";
  args.insert(args.end(), {"--history", history});
  auto second = c.Run("tokenload", args, 60);
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_THAT(second.out, HasSubstr("verdict: linearizable"));
  // The history opens with each token's value as the load found it: a write (invoke, then
  // ok) by a process of its own. The second load's names carry its run tag.
  std::ifstream in(history);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_GE(lines.size(), 6U);
  for (std::size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(lines[i].dump());
    EXPECT_EQ(lines[i]["f"], "write");
    EXPECT_EQ(lines[i]["token"], i < 2 ? "1" : "acct-7");
    EXPECT_EQ(lines[i]["process"], lines[i - i % 2]["process"]);
  }
  // Each load's names start with its own run tag ("r<ms, base 36>-").
  const auto tag = [](const nlohmann::json& line) {
    const std::string name = line["value"]["name"].get<std::string>();
    return name.substr(0, name.find('-') + 1);
  };
  const std::string first_tag = tag(lines[0]);
  EXPECT_EQ(first_tag.rfind('r', 0), 0U) << lines[0].dump();
  EXPECT_EQ(lines[2]["value"], nlohmann::json({{"kind", "empty"}}));
  EXPECT_GT(lines[3]["version"].get<std::uint64_t>(), 0U);
  std::size_t tagged = 0;
  for (std::size_t i = 4; i < lines.size(); ++i) {
    if (lines[i]["f"] != "write") continue;
    EXPECT_EQ(tag(lines[i]).rfind('r', 0), 0U) << lines[i].dump();
    EXPECT_NE(tag(lines[i]), first_tag) << lines[i].dump();
    ++tagged;
  }
  EXPECT_GT(tagged, 0U);
  auto check = c.Run("tokencheck", {history});
  EXPECT_EQ(check.exit_code, 0) << check.out;
}

// A token crashed at every reader before the load cannot be read first: tokenload says so
// and runs the load without waiting out its operations' deadline (bench/held_calls.sh
// loads such a token).
TEST(Net, ALoadOfATokenNoReaderAnswersForWarnsAndRuns) {
  LocalCluster c(kScheme, 3, {"--quiet"});
  for (int n : {1, 2}) {
    auto crash = c.Run("tokenclient",
                       {"crash", "--node", c.node(n), "--id", "acct-7", "--config", c.config()});
    ASSERT_EQ(crash.exit_code, 0) << crash.err;
  }
  const auto start = std::chrono::steady_clock::now();
  auto load = c.Run("tokenload",
                    {"--config", c.config(), "--tokens", "acct-7", "--clients", "2", "--ops", "2",
                     "--read-ratio", "1", "--timeout-ms", "5000"},
                    60);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(load.exit_code, 0) << load.out << load.err;
  EXPECT_THAT(load.err, HasSubstr("could not read token acct-7 before the load"));
  EXPECT_THAT(load.out, ::testing::ContainsRegex("read +0 ok +2 fail"));
  // Two readers, 2 s each at most before the load (not the load's 5 s), then one read per
  // client waiting out its 5 s deadline: about 9 s, where waiting 5 s per reader first
  // would take 15.
  EXPECT_LT(took, std::chrono::seconds(12));
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
  LocalCluster c(kScheme, 3, {"--quiet", "--max-calls-per-token", "10000"});
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

// Sends `n` reads of `token` to `node` at once, each with `deadline`; counts the outcomes.
class ConcurrentReads {
 public:
  ConcurrentReads(const std::string& node, const std::string& token, int n,
                  std::chrono::milliseconds deadline)
      : stub_(tokenmgr::v1::TokenManager::NewStub(
            grpc::CreateChannel(node, grpc::InsecureChannelCredentials()))) {
    for (int i = 0; i < n; ++i) {
      auto p = std::make_unique<Pending>();
      p->ctx.set_deadline(std::chrono::system_clock::now() + deadline);
      p->request.set_id(token);
      stub_->async()->Read(&p->ctx, &p->request, &p->reply, [this](grpc::Status s) {
        std::lock_guard lock(mu_);
        ++codes_[s.error_code()];
        if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
          last_refusal_ = s.error_message();
        ++done_;
      });
      calls_.push_back(std::move(p));
    }
  }
  ~ConcurrentReads() { WaitAll(); }
  // Waits (bounded: 30 s) until every call has ended.
  void WaitAll() {
    for (int i = 0; i < 3000 && done() < calls_.size(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::size_t done() {
    std::lock_guard lock(mu_);
    return done_;
  }
  int count(grpc::StatusCode code) {
    std::lock_guard lock(mu_);
    return codes_[code];
  }
  std::string last_refusal() {
    std::lock_guard lock(mu_);
    return last_refusal_;
  }

 private:
  struct Pending {
    grpc::ClientContext ctx;
    tokenmgr::v1::ReadRequest request;
    tokenmgr::v1::TokenReply reply;
  };
  std::unique_ptr<tokenmgr::v1::TokenManager::Stub> stub_;
  std::vector<std::unique_ptr<Pending>> calls_;
  std::mutex mu_;
  std::map<grpc::StatusCode, int> codes_;
  std::string last_refusal_;
  std::size_t done_ = 0;
};

TEST(Net, ACrashedTokenHoldsItsShareOfCallsWhileAHealthyTokenKeepsServing) {
  LocalCluster c(kScheme, 3, {"--quiet", "--max-calls-per-token", "500"});
  ASSERT_EQ(
      c.Run("tokenclient", {"crash", "--node", c.node(2), "--id", "1", "--config", c.config()})
          .exit_code,
      0);
  auto client = net::TokenClient::ForServer(c.node(2));
  ASSERT_TRUE(client.ok());
  // 800 reads of the crashed token 1 at node 2, with a 20 s deadline: 500 are held, the
  // rest refused at once naming the per-token bound.
  ConcurrentReads reads(c.node(2), "1", 800, std::chrono::seconds(20));
  std::uint64_t held = 0;
  for (int i = 0; i < 1000 && (reads.done() < 300 || held < 500); ++i) {
    auto s = client.value()->NodeStatus(c.node(2), std::chrono::seconds(1));
    if (s.ok()) held = s.reply.held_calls();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(held, 500u);
  ASSERT_EQ(reads.count(grpc::StatusCode::RESOURCE_EXHAUSTED), 300);
  EXPECT_THAT(reads.last_refusal(), HasSubstr("calls about token '1' in flight already (held: "
                                              "the token crashed here; at most 500 per token)"));
  // Meanwhile token acct-7 at the same node serves every read and write (the deadline is
  // generous: the point is that none is refused or starved, not its latency).
  for (int i = 0; i < 20; ++i) {
    auto r = client.value()->Read("acct-7", std::chrono::milliseconds(5000));
    EXPECT_TRUE(r.ok()) << r.status.error_message();
  }
  auto writer = net::TokenClient::ForServer(c.node(1));
  ASSERT_TRUE(writer.ok());
  for (int i = 0; i < 5; ++i) {
    auto w = writer.value()->Write("acct-7", Domain{"w", 0, 5, 10}, std::chrono::seconds(5));
    EXPECT_TRUE(w.ok()) << w.status.error_message();
  }
  EXPECT_EQ(reads.done(), 300u) << "the held calls are still held";
}

TEST(Net, AHugeDomainWriteLeavesAnotherTokensOperationsServed) {
  // One worker: without turns between tokens, the big argmin would hold every other
  // token's computation until it ends (several seconds).
  LocalCluster c(kScheme, 3, {"--quiet", "--workers", "1"});
  auto writer0 = net::TokenClient::ForServer(c.node(0));
  ASSERT_TRUE(writer0.ok());
  // Beyond the limit: refused at once, naming the limit.
  auto huge = writer0.value()->Write("1", Domain{"big", 0, 1, 1'000'000'000'000'000},
                                     std::chrono::seconds(5));
  EXPECT_EQ(huge.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(
      huge.status.error_message(),
      HasSubstr("is too large: it holds 1000000000000000 values and the limit is 50000000"));
  // Within the limit, but far more work than the other token's: a write whose partial
  // runs over 50,000,000 values (seconds of one core) at node 1, which also serves acct-7.
  std::atomic<bool> big_done{false};
  grpc::Status big_status;
  std::thread big([&] {
    auto client = net::TokenClient::ForServer(c.node(1));
    if (!client.ok()) return;
    auto w = client.value()->Write("acct-7", Domain{"big", 0, 49'999'999, 50'000'000},
                                   std::chrono::seconds(60));
    big_status = w.status;
    big_done = true;
  });
  // Token 1's operations at node 1 complete while the big one runs: each read computes its
  // own argmin on node 1's one worker. Bounded generously (2 s each against seconds of
  // work ahead of them); the assertion is that they are not queued behind it.
  auto writer = net::TokenClient::ForServer(c.node(0));
  auto reader = net::TokenClient::ForServer(c.node(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the big argmin has started
  int served_while_big_ran = 0;
  for (int i = 0; i < 10 && writer.ok() && reader.ok(); ++i) {
    auto w = writer.value()->Write("1", Domain{fmt::format("n{}", i), 0, 1000, 2000},
                                   std::chrono::seconds(2));
    auto r = reader.value()->Read("1", std::chrono::seconds(2));
    if (!w.ok() || !r.ok()) {  // not ASSERT: the big write's thread must be joined
      ADD_FAILURE() << "token 1 was not served while the big argmin ran: write "
                    << w.status.error_message() << "; read " << r.status.error_message();
      break;
    }
    if (!big_done) ++served_while_big_ran;
  }
  EXPECT_GT(served_while_big_ran, 0) << "the big write ended before the others ran: nothing shown";
  big.join();
  EXPECT_TRUE(big_status.ok()) << big_status.error_message();
}

TEST(Net, AnOperationThatRunsOutOfTimeComputingSaysSo) {
  // The node's own op timeout (1 s) ends a call whose caller set no deadline: the reason
  // reaches the caller, whatever the machine's load.
  LocalCluster c(
      kScheme, 3,
      {"--quiet", "--workers", "1", "--op-timeout-ms", "1000", "--max-domain", "1000000000"});
  auto stub = tokenmgr::v1::TokenManager::NewStub(
      grpc::CreateChannel(c.node(0), grpc::InsecureChannelCredentials()));
  // 10^9 values: nearly a minute of one core.
  grpc::ClientContext ctx;
  tokenmgr::v1::WriteRequest request;
  request.set_id("1");
  request.set_name("slow");
  request.set_low(0);
  request.set_mid(999'999'999);
  request.set_high(1'000'000'000);
  tokenmgr::v1::TokenReply reply;
  const grpc::Status s = stub->Write(&ctx, request, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(),
              HasSubstr("ran out of time computing the argmin over 999999999 values"));
  EXPECT_THAT(s.error_message(), HasSubstr("the write did not take effect"));
  EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr("no quorum")));
  // The job stopped with its caller: the one worker computes the next write at once.
  auto writer = net::TokenClient::ForServer(c.node(0));
  ASSERT_TRUE(writer.ok());
  auto next = writer.value()->Write("1", Domain{"next", 0, 10, 20}, std::chrono::seconds(5));
  EXPECT_TRUE(next.ok()) << next.status.error_message();
  EXPECT_EQ(next.reply.version(), 2u) << "the abandoned write took version 1 and sent nothing";
}

TEST(Net, ClientAddressesOutOfRangeAreClearErrors) {
  LocalCluster c("- token: 1\n  writer: NODE0\n  readers: [NODE0]\n", 1);
  for (const auto& [server, expected] : std::vector<std::pair<std::string, std::string>>{
           {"127.0.0.1:113537", "port 113537 out of range 1..65535"},
           {"127.0.0.1", "the port is required"},
           {"127.0.0.1:0", "port 0 out of range 1..65535"}}) {
    auto r = c.Run("tokenclient", {"read", "--id", "1", "--server", server}, 20);
    EXPECT_EQ(r.exit_code, 2) << server;
    EXPECT_THAT(r.err, HasSubstr(expected)) << server;
  }
  auto port = c.Run("tokenclient", {"read", "--id", "1", "-port", "99999"}, 20);
  EXPECT_EQ(port.exit_code, 2);
  EXPECT_THAT(port.err, HasSubstr("--port: 99999 is not in 1..65535"));
}

}  // namespace
}  // namespace token
