// Real tokenserver processes with --data-dir, killed with SIGKILL and started again, as
// systemd's Restart=always does, and as an operator replacing a machine does: nothing
// acknowledged is lost, no version is reused, a node without its data never serves a
// stale read, and a restarted node's first operation succeeds at once. Every process is
// stopped by the test; every run is bounded in time.
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "net_grpc/client.h"
#include "support/local_cluster.h"
#include "support/sanitized.h"

namespace token {
namespace {

using ::testing::HasSubstr;
using testing::LocalCluster;

// Token 1 on three nodes (writer NODE0), loaded by tokenload; token b on three nodes
// (writer NODE1), written and read by the tests with tokenclient.
constexpr const char* kScheme = R"(
- token: 1
  writer: NODE0
  readers: [NODE0, NODE1, NODE2]
- token: b
  writer: NODE1
  readers: [NODE0, NODE1, NODE2]
)";

constexpr bool kDurable = true;

// tokenclient write of `name` over [0, 5, 9) to token `id` at node `i` (its writer).
testing::ToolRun Write(const LocalCluster& c, int i, const char* id, const char* name) {
  return c.Run("tokenclient", {"write", "--server", c.node(i), "--id", id, "--name", name, "--low",
                               "0", "--mid", "5", "--high", "9"});
}

// tokenload in the background on token 1 of `c`, its history in DIR/history.jsonl (its
// history starts from the initial value: the tests' own writes go to token b).
tokenapp::ChildProcess StartLoad(LocalCluster& c, const std::string& ops, const char* seed) {
  auto load = tokenapp::ChildProcess::Start(
      {LocalCluster::Bin("tokenload"), "--config", c.config(), "--clients", "8", "--ops", ops,
       "--read-ratio", "0.5", "--timeout-ms", "1000", "--final-reads", "--history",
       c.dir() + "/history.jsonl", "--seed", seed, "--tokens", "1"},
      c.dir() + "/load.log");
  EXPECT_TRUE(load.ok());
  return std::move(load).value();
}

// Waits (bounded) until node `i` stores token 1 at `version` or later.
void WaitForVersion(LocalCluster& c, int i, std::uint64_t version) {
  auto client = net::TokenClient::ForServer(c.node(i));
  ASSERT_TRUE(client.ok());
  for (int k = 0; k < 1000; ++k) {
    auto s = client.value()->NodeStatus(c.node(i), std::chrono::milliseconds(500));
    if (s.ok() && s.reply.tokens_size() > 0 && s.reply.tokens(0).stored().version() >= version) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "node " << c.node(i) << " never reached version " << version;
}

// The load ends linearizable (its closing reads at every reader included), and tokencheck
// agrees from the file. At least `min_ok` operations succeeded: the load went on after the
// restarts (a history of refusals alone would be linearizable too).
void ExpectLinearizable(LocalCluster& c, tokenapp::ChildProcess& load, int min_ok) {
  auto status = load.WaitFor(std::chrono::seconds(120));
  ASSERT_TRUE(status.has_value()) << "tokenload did not finish";
  const std::string log = testing::ReadText(c.dir() + "/load.log");
  EXPECT_EQ(WEXITSTATUS(*status), 0) << log;
  EXPECT_THAT(log, HasSubstr("verdict: linearizable"));
  const auto at = log.find(" ok operations in ");
  ASSERT_NE(at, std::string::npos) << log;
  const auto from = log.rfind(' ', at - 1) + 1;
  EXPECT_GE(std::stoi(log.substr(from, at - from)), min_ok) << log;
  auto check = c.Run("tokencheck", {c.dir() + "/history.jsonl"});
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_THAT(testing::ReadText(c.dir() + "/history.jsonl"), HasSubstr("\"closing_read\":true"));
}

TEST(Restart, EachNodeKilledAndRestartedInTurnUnderLoadLosesNothing) {
  LocalCluster c(kScheme, 3, {"--quiet"}, {}, {}, kDurable);
  auto load = StartLoad(c, std::to_string(testing::Scaled(8000)), "3");
  WaitForVersion(c, 0, 20);
  // Two rounds: every node, the writers included, dies by SIGKILL and comes back.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 3; ++i) {
      c.Restart(i);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ExpectLinearizable(c, load, testing::Scaled(6000));
}

TEST(Restart, TheWholeClusterKilledAndRestartedKeepsEveryAcknowledgedWrite) {
  LocalCluster c(kScheme, 3, {"--quiet"}, {}, {}, kDurable);
  auto write = Write(c, 1, "b", "kept");
  ASSERT_EQ(write.exit_code, 0) << write.err;
  for (int i = 0; i < 3; ++i) c.process(i).Kill();
  for (int i = 0; i < 3; ++i) c.StartNode(i, "");
  for (int i = 0; i < 3; ++i) c.WaitServing(i);
  for (int i = 0; i < 3; ++i) {
    auto read = c.Run("tokenclient", {"read", "--server", c.node(i), "--id", "b"});
    EXPECT_EQ(read.exit_code, 0) << read.err;
    EXPECT_THAT(read.out, HasSubstr("kept")) << "at " << c.node(i);
  }
  // And under load: every node killed at once mid-run, then started again.
  auto load = StartLoad(c, std::to_string(testing::Scaled(6000)), "5");
  WaitForVersion(c, 0, 40);
  for (int i = 0; i < 3; ++i) c.process(i).Kill();
  for (int i = 0; i < 3; ++i) c.StartNode(i, "");
  for (int i = 0; i < 3; ++i) c.WaitServing(i);
  ExpectLinearizable(c, load, testing::Scaled(4000));
}

TEST(Restart, ARestartedWriterNeverReusesAVersion) {
  LocalCluster c(kScheme, 3, {"--quiet"}, {}, {}, kDurable);
  auto load = StartLoad(c, std::to_string(testing::Scaled(6000)), "7");
  for (int k = 0; k < 3; ++k) {
    WaitForVersion(c, 1, 30 * (k + 1));
    c.Restart(0);  // the writer of token 1
  }
  // The checker refuses two writes with one version ("write order against real time").
  ExpectLinearizable(c, load, testing::Scaled(4500));
}

TEST(Restart, ANodeWithoutItsDataCatchesUpAndNeverServesAStaleRead) {
  LocalCluster c(kScheme, 3, {"--quiet"}, {}, {}, kDurable);
  auto write = Write(c, 1, "b", "before");
  ASSERT_EQ(write.exit_code, 0) << write.err;
  // An empty data directory without --initial-state is refused, naming the choice.
  c.process(2).Kill();
  std::error_code ignored;
  std::filesystem::remove_all(c.DataDirOf(2), ignored);
  auto refused = c.Run("tokenserver",
                       {"--config", c.config(), "--listen", c.node(2), "--data-dir", c.DataDirOf(2),
                        "--cluster-secret-file", c.secret_file()},
                       20);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, HasSubstr("--initial-state"));
  // As a replacement it catches up first: its first read is the acknowledged value.
  c.StartNode(2, "existing");
  c.WaitServing(2);
  bool read_ok = false;
  for (int k = 0; k < 100 && !read_ok; ++k) {
    auto read = c.Run("tokenclient", {"read", "--server", c.node(2), "--id", "b"});
    if (read.exit_code == 0) {
      read_ok = true;
      EXPECT_THAT(read.out, HasSubstr("before"));
    } else {
      EXPECT_THAT(read.err, HasSubstr("catching")) << "a refusal names the catch-up";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_TRUE(read_ok);
  // Under load, a reader replaced mid-run: linearizable.
  auto load = StartLoad(c, std::to_string(testing::Scaled(6000)), "9");
  WaitForVersion(c, 0, 40);
  c.Replace(2);
  ExpectLinearizable(c, load, testing::Scaled(5000));
}

TEST(Restart, ARestartedNodesFirstOperationSucceedsAtOnce) {
  LocalCluster c(kScheme, 3, {"--quiet"}, {}, {}, kDurable);
  auto write = Write(c, 1, "b", "x");
  ASSERT_EQ(write.exit_code, 0) << write.err;
  c.process(2).Kill();
  // While it is down both its peers try to reach it (their links back off): each writes
  // the token it is the writer of.
  for (int k = 0; k < 6; ++k) {
    auto w = Write(c, 1, "b", "y");
    EXPECT_EQ(w.exit_code, 0) << w.err;
    auto w1 = Write(c, 0, "1", "z");
    EXPECT_EQ(w1.exit_code, 0) << w1.err;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  c.StartNode(2, "");
  c.WaitServing(2);
  // Its first read needs its peers' answers: within a normal deadline, first time.
  auto read =
      c.Run("tokenclient", {"read", "--server", c.node(2), "--timeout-ms", "300", "--id", "b"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_THAT(read.out, HasSubstr("y"));
}

}  // namespace
}  // namespace token
