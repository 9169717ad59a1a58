// tokenserver --metrics-listen: a real node's Prometheus endpoint, scraped over HTTP, counts
// what the clients did (operations by type and outcome, latency histograms, held calls,
// crashed tokens, peer links, storage commits), and tokenclient status --json shows the same
// figures.
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/local_cluster.h"

namespace token::testing {
namespace {

// "name{labels}" -> value, from the exposition text (checks each line's shape).
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      EXPECT_TRUE(line.starts_with("# HELP tokenmgr_") || line.starts_with("# TYPE tokenmgr_"))
          << line;
      continue;
    }
    const auto space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    EXPECT_TRUE(line.starts_with("tokenmgr_")) << line;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

TEST(Metrics, ScrapedEndpointCountsWhatTheClientsDid) {
  const int metrics_port = 20000 + (getpid() % 700) * 16 + 14;
  const std::string listen = fmt::format("127.0.0.1:{}", metrics_port);
  LocalCluster c(
      "- token: 1\n  writer: NODE0\n  readers: [NODE0, NODE1]\n"
      "- token: 2\n  writer: NODE0\n  readers: [NODE0]\n",
      2, {"--quiet"}, {}, {}, /*durable=*/true);
  // A second process for node 0 is not possible: restart node 0 with the endpoint on.
  c.process(0).Stop();
  {
    std::vector<std::string> args = {LocalCluster::Bin("tokenserver"),
                                     "--config",
                                     c.config(),
                                     "--listen",
                                     c.node(0),
                                     "--data-dir",
                                     c.DataDirOf(0),
                                     "--initial-state",
                                     "new",
                                     "--quiet",
                                     "--metrics-listen",
                                     listen,
                                     "--cluster-secret-file",
                                     c.secret_file()};
    auto p = tokenapp::ChildProcess::Start(args, c.LogOf(c.node(0)));
    ASSERT_TRUE(p.ok());
    c.process(0) = std::move(p).value();
    c.WaitServing(0);
  }
  const std::string at = "--server=" + c.node(0);
  ASSERT_EQ(c.Run("tokenclient", {at, "write", "--id", "1", "--name", "a", "--low", "0", "--mid",
                                  "1", "--high", "4"})
                .exit_code,
            0);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(c.Run("tokenclient", {at, "read", "--id", "1"}).exit_code, 0);
  EXPECT_EQ(c.Run("tokenclient", {at, "read", "--id", "nosuch"}).exit_code, 1);
  ASSERT_EQ(c.Run("tokenclient", {at, "crash", "--id", "2"}).exit_code, 0);
  // A read of the crashed token is held (silently) while its caller waits.
  auto held = tokenapp::ChildProcess::Start(
      {LocalCluster::Bin("tokenclient"), at, "--timeout-ms", "20000", "read", "--id", "2"},
      c.dir() + "/held-read.log");
  ASSERT_TRUE(held.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  httplib::Client http("127.0.0.1", metrics_port);
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res) << "no answer from " << listen;
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->get_header_value("Content-Type"), ::testing::HasSubstr("version=0.0.4"));
  const auto m = ParseMetrics(res->body);
  EXPECT_EQ(m.at(R"(tokenmgr_operations_total{op="write",outcome="OK"})"), 1);
  EXPECT_EQ(m.at(R"(tokenmgr_operations_total{op="read",outcome="OK"})"), 3);
  EXPECT_EQ(m.at(R"(tokenmgr_operations_total{op="read",outcome="NOT_FOUND"})"), 1);
  EXPECT_EQ(m.at(R"(tokenmgr_operation_latency_seconds_count{op="read"})"), 4);
  EXPECT_EQ(m.at(R"(tokenmgr_operation_latency_seconds_bucket{op="read",le="+Inf"})"), 4);
  EXPECT_EQ(m.at("tokenmgr_crashed_tokens"), 1);
  EXPECT_EQ(m.at("tokenmgr_tokens"), 2);
  EXPECT_GE(m.at("tokenmgr_held_calls"), 1);
  EXPECT_EQ(m.at(fmt::format(R"(tokenmgr_peer_link_up{{peer="{}"}})", c.node(1))), 1);
  EXPECT_TRUE(
      m.contains(fmt::format(R"(tokenmgr_peer_messages_dropped_total{{peer="{}"}})", c.node(1))));
  // The write went through the store: its commit latency was observed.
  EXPECT_GE(m.at("tokenmgr_storage_commit_latency_seconds_count"), 1);
  EXPECT_EQ(http.Get("/nothing-here")->status, 404);

  // tokenclient status --json: the same figures.
  const ToolRun status = c.Run("tokenclient", {at, "--json", "status", "--node", c.node(0)});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto j = nlohmann::json::parse(status.out);
  EXPECT_EQ(j.at("metrics").at(R"(tokenmgr_operations_total{op="write",outcome="OK"})"), 1);
  EXPECT_EQ(j.at("metrics").at(R"(tokenmgr_operations_total{op="read",outcome="OK"})"), 3);
  EXPECT_EQ(j.at("metrics").at("tokenmgr_crashed_tokens"), 1);
  EXPECT_EQ(j.at("held_calls"), j.at("metrics").at("tokenmgr_held_calls"));
  held.value().Stop();
}

TEST(Metrics, AnEndpointThatCannotListenIsABadFlag) {
  LocalCluster c("- token: 1\n  writer: NODE0\n  readers: [NODE0]\n", 0);
  const ToolRun r = c.Run("tokenserver", {"-port", "1", "--metrics-listen", "nohost"}, 10);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr("--metrics-listen 'nohost': expected HOST:PORT"));
}

}  // namespace
}  // namespace token::testing
