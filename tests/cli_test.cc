// The programs' command lines (harness/cli, CLI11), run as a user would: --version and
// --help everywhere, global options before or after the command, the original single-dash
// flags, suggestions for typos, range checks, exit codes (0 ok, 1 failed, 2 bad usage),
// the fuzzer's time limit and shards, tokencluster finding programs on PATH, the shell's
// exit code and control characters escaped in text output.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/local_cluster.h"

namespace token::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::string> kTools = {"tokenserver", "tokenclient", "tokencluster", "tokenload",
                                         "tokensim",    "tokencheck",  "histgen"};

// Runs a tool of the build in `dir` with `input` on stdin, bounded by `limit_s` seconds.
ToolRun RunTool(const std::string& tool, const std::vector<std::string>& args,
                const std::string& input = "", int limit_s = 60, const std::string& env = "") {
  static int counter = 0;
  const std::string base = fmt::format("{}/cli-{}-{}", ::testing::TempDir(), getpid(), counter++);
  std::ofstream(base + ".in") << input;
  std::string command =
      fmt::format("{} timeout -k 5 {} '{}'", env, limit_s, LocalCluster::Bin(tool));
  for (const std::string& a : args) command += " '" + a + "'";
  command += fmt::format(" < '{0}.in' > '{0}.out' 2> '{0}.err'", base);
  const int status = std::system(command.c_str());
  ToolRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadText(base + ".out");
  r.err = ReadText(base + ".err");
  for (const char* ext : {".in", ".out", ".err"}) std::remove((base + ext).c_str());
  return r;
}

TEST(Cli, EveryToolHasVersionAndHelp) {
  for (const std::string& tool : kTools) {
    const ToolRun v = RunTool(tool, {"--version"});
    EXPECT_EQ(v.exit_code, 0) << tool << v.err;
    EXPECT_THAT(v.out, HasSubstr(tool + " 0.1.0 (git ")) << tool;
    EXPECT_THAT(v.out, Not(HasSubstr("git unknown"))) << tool << ": built from a git checkout";
    const ToolRun h = RunTool(tool, {"--help"});
    EXPECT_EQ(h.exit_code, 0) << tool << h.err;
    EXPECT_THAT(h.out, HasSubstr("exit: 0 ")) << tool << ": the exit codes are documented";
    EXPECT_THAT(h.out, HasSubstr("--version")) << tool;
  }
}

TEST(Cli, UnknownOptionsAndCommandsAreRefusedWithASuggestion) {
  const ToolRun cmd = RunTool("tokenclient", {"--server", "127.0.0.1:1", "wrte", "--id", "1"});
  EXPECT_EQ(cmd.exit_code, 2);
  EXPECT_THAT(cmd.err, HasSubstr("did you mean 'write'?"));
  const ToolRun help = RunTool("tokensim", {"hlep"});
  EXPECT_EQ(help.exit_code, 2);
  EXPECT_THAT(help.err, HasSubstr("did you mean 'help'?"));
  const ToolRun opt =
      RunTool("tokenclient", {"--server", "127.0.0.1:1", "read", "--id", "1", "--jsn"});
  EXPECT_EQ(opt.exit_code, 2);
  EXPECT_THAT(opt.err, HasSubstr("did you mean '--json'?"));
  const ToolRun sim = RunTool("tokensim", {"fuzz", "--time-limt", "3"});
  EXPECT_EQ(sim.exit_code, 2);
  EXPECT_THAT(sim.err, HasSubstr("did you mean '--time-limit'?"));
  const ToolRun check = RunTool("tokencheck", {"--jsno", "h.jsonl"});
  EXPECT_EQ(check.exit_code, 2);
  EXPECT_THAT(check.err, HasSubstr("did you mean '--json'?"));
  const ToolRun none = RunTool("tokenclient", {"--server", "127.0.0.1:1"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("subcommand"));
}

TEST(Cli, HelpForEveryCommand) {
  const ToolRun help = RunTool("tokenclient", {"help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* c : {"write", "read", "create", "drop", "crash", "status", "shell"}) {
    EXPECT_THAT(help.out, HasSubstr(c));
  }
  const ToolRun write = RunTool("tokenclient", {"help", "write"});
  EXPECT_EQ(write.exit_code, 0);
  EXPECT_THAT(write.out, HasSubstr("--mid"));
  const ToolRun fuzz = RunTool("tokensim", {"fuzz", "--help"});
  EXPECT_EQ(fuzz.exit_code, 0) << fuzz.err;
  EXPECT_THAT(fuzz.out, HasSubstr("--time-limit"));
  EXPECT_THAT(fuzz.out, HasSubstr("--shard"));
  const ToolRun explore = RunTool("tokensim", {"explore", "--help"});
  EXPECT_EQ(explore.exit_code, 0) << explore.err;
  EXPECT_THAT(explore.out, HasSubstr("--keep-dead"));
  EXPECT_THAT(explore.out, HasSubstr("--no-eager-clients"));
  EXPECT_THAT(explore.out, HasSubstr("--max-memory"));
  EXPECT_THAT(explore.out, HasSubstr("--threads"));
}

TEST(Cli, NumbersAreRangeChecked) {
  struct Case {
    std::string tool;
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"tokenserver", {"-port", "50051", "--op-timeout-ms", "18446744073709551615"}, "1..3600000"},
      {"tokenserver", {"-port", "0"}, "1..65535"},
      {"tokenserver", {"-port", "65536"}, "1..65535"},
      {"tokenserver", {"-port", "-5"}, "not a non-negative integer"},
      {"tokenserver", {"-port", "0x10"}, "not a non-negative integer"},
      {"tokenserver", {"--listen", "127.0.0.1:1", "--workers", "0"}, "1..256"},
      {"tokenclient", {"--server", "x:1", "--timeout-ms", "0", "status"}, "1..3600000"},
      {"tokenclient", {"-host", "h", "-port", "99999", "-read", "-id", "1"}, "1..65535"},
      {"tokenclient",
       {"--server", "x:1", "write", "--id", "1", "--name", "n", "--low", "1", "--mid", "2",
        "--high", "18446744073709551616"},
       "below 2^64"},
      {"tokenload", {"--config", "x.yaml", "--clients", "0"}, "1..10000"},
      {"tokenload", {"--config", "x.yaml", "--read-ratio", "1.5"}, "0..1"},
      {"tokencluster", {"--config", "x.yaml", "--ready-timeout-ms", "0"}, "1..600000"},
      {"tokensim", {"fuzz", "--cases", "0"}, "1..1000000000000"},
      {"tokensim", {"fuzz", "--time-limit", "-1"}, "--time-limit"},
      {"tokensim", {"fuzz", "--shard", "3/3"}, "0 <= K < N"},
      {"tokensim", {"explore", "--max-memory", "0"}, "1..65536"},
      {"tokensim", {"explore", "--max-memory", "65537"}, "1..65536"},
      {"tokensim", {"explore", "--threads", "0"}, "1..64"},
      {"tokensim", {"explore", "--threads", "65"}, "1..64"},
      {"histgen", {"--ops", "0"}, "1..1000000000"},
      {"histgen", {"--ops", "5", "--info-permille", "1001"}, "0..1000"},
  };
  for (const Case& c : cases) {
    const ToolRun r = RunTool(c.tool, c.args);
    EXPECT_EQ(r.exit_code, 2) << c.tool << " " << fmt::format("{}", fmt::join(c.args, " ")) << "\n"
                              << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.says))
        << c.tool << " " << fmt::format("{}", fmt::join(c.args, " "));
  }
}

// Global options before the command, as etcdctl, kubectl and git users type them: parsed
// (exit 1: nothing listens there), not refused as bad usage (exit 2).
TEST(Cli, GlobalOptionsBeforeTheCommand) {
  const ToolRun status =
      RunTool("tokenclient", {"--server", "127.0.0.1:1", "--timeout-ms", "300", "status"});
  EXPECT_EQ(status.exit_code, 1) << status.err;
  EXPECT_THAT(status.err, HasSubstr("UNAVAILABLE"));
  const ToolRun read = RunTool("tokenclient", {"--json", "--server", "127.0.0.1:1", "--timeout-ms",
                                               "300", "read", "--id", "1"});
  EXPECT_EQ(read.exit_code, 1) << read.err;
  // --json: the failure is one JSON object on stdout too.
  const auto j = nlohmann::json::parse(read.out);
  EXPECT_EQ(j.at("op"), "read");
  EXPECT_EQ(j.at("error").at("code"), "UNAVAILABLE");
}

TEST(Cli, FuzzTimeLimitAloneRunsForThatLong) {
  const ToolRun r = RunTool("tokensim", {"fuzz", "--time-limit", "1.5", "--seed", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("no case bound, for up to 1.5 s"));
  double seconds = 0;
  unsigned long long cases = 0;
  const auto at = r.out.find(" cases in ");
  ASSERT_NE(at, std::string::npos) << r.out;
  ASSERT_EQ(std::sscanf(r.out.c_str() + r.out.rfind('\n', at) + 1, "%llu cases in %lf s", &cases,
                        &seconds),
            2)
      << r.out;
  EXPECT_GE(seconds, 1.5);
  EXPECT_LT(seconds, 30);
  // Not on a terminal (stderr is a file here): no progress line.
  EXPECT_THAT(r.err, Not(HasSubstr("cases/s")));
}

TEST(Cli, FuzzShardsMergeIntoOneCampaign) {
  const std::string dir = ::testing::TempDir() + fmt::format("/cli-shards-{}", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<std::string> results;
  for (int k = 0; k < 3; ++k) {
    results.push_back(fmt::format("{}/shard-{}.json", dir, k));
    const ToolRun r = RunTool(
        "tokensim", {"fuzz", "--cases", "90", "--seed", "7", "--mutant", "minority-quorum",
                     "--max-failures", "0", "--max-shrink-steps", "30", "--shard",
                     fmt::format("{}/3", k), "--out", dir + "/out", "--result", results.back()});
    EXPECT_NE(r.exit_code, 2) << r.err;
  }
  std::vector<std::string> merge_args = {"merge"};
  merge_args.insert(merge_args.end(), results.begin(), results.end());
  const ToolRun text = RunTool("tokensim", merge_args);
  EXPECT_EQ(text.exit_code, 1) << text.out << text.err;  // the planted bug fails some cases
  EXPECT_THAT(text.out, HasSubstr("3 of 3 shards"));
  EXPECT_THAT(text.out, HasSubstr("90 run, every case below 90 covered (all of them)"));
  EXPECT_THAT(text.out, HasSubstr("replay: tokensim replay " + dir + "/out/fuzz-seed7-case"));
  merge_args.insert(merge_args.begin(), "--json");
  const ToolRun json = RunTool("tokensim", merge_args);
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j.at("cases_run"), 90);
  EXPECT_FALSE(j.at("failures").empty());
  for (const auto& f : j.at("failures")) {
    EXPECT_TRUE(std::filesystem::exists(f.at("repro").get<std::string>()));
  }
  // Without shard 1 the campaign is incomplete (exit 2) and says which one is missing.
  const ToolRun partial = RunTool("tokensim", {"merge", results[0], results[2]});
  EXPECT_EQ(partial.exit_code, 2);
  EXPECT_THAT(partial.out, HasSubstr("missing: 1"));
  std::filesystem::remove_all(dir);
}

TEST(Cli, ClusterFindsCommandsOnPath) {
  LocalCluster probe("- token: 1\n  writer: NODE0\n  readers: [NODE0]\n", 0);
  // A scheme of its own on a port of this process (LocalCluster's scheme, one node).
  const int port = 20000 + (getpid() % 700) * 16 + 15;
  const std::string config = probe.dir() + "/one.yaml";
  std::ofstream(config) << fmt::format(
      "- token: 1\n  writer: 127.0.0.1:{0}\n  readers: [127.0.0.1:{0}]\n", port);
  const ToolRun ok = RunTool("tokencluster", {"--config", config, "--log-dir",
                                              probe.dir() + "/logs", "--quiet", "--", "true"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  // --json: its own events as one JSON object per line.
  const ToolRun json = RunTool("tokencluster", {"--config", config, "--log-dir",
                                                probe.dir() + "/logs", "--json", "--", "true"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  std::vector<std::string> events;
  std::istringstream lines(json.out);
  for (std::string line; std::getline(lines, line);) {
    events.push_back(nlohmann::json::parse(line).at("event").get<std::string>());
  }
  EXPECT_EQ(events, (std::vector<std::string>{"serving", "stopped"}));
  const ToolRun missing = RunTool("tokencluster", {"--config", config, "--log-dir",
                                                   probe.dir() + "/logs", "--", "no-such-tool-x"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("no such program"));
}

class CliCluster : public ::testing::Test {
 protected:
  LocalCluster c{"- token: 1\n  writer: NODE0\n  readers: [NODE0]\n", 1, {"--quiet"}};
};

TEST_F(CliCluster, ShellExitsNonZeroAfterAFailedCommand) {
  const std::string where = "--server=" + c.node(0);
  const ToolRun good = RunTool("tokenclient", {where, "shell"}, "write 1 abc 5 25 100\nread 1\n");
  EXPECT_EQ(good.exit_code, 0) << good.err;
  const ToolRun failed = RunTool("tokenclient", {where, "shell"}, "read nosuch\nread 1\n");
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
  EXPECT_THAT(failed.out, HasSubstr("read 1: version"));  // it went on after the failure
  const ToolRun bad = RunTool("tokenclient", {where, "shell"}, "reed 1\nread 1\n");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST_F(CliCluster, OriginalSingleDashFlags) {
  const auto colon = c.node(0).rfind(':');
  const std::string host = c.node(0).substr(0, colon), port = c.node(0).substr(colon + 1);
  const ToolRun w =
      RunTool("tokenclient", {"-write", "-id", "1", "-name", "abc", "-low", "5", "-mid", "25",
                              "-high", "100", "-host", host, "-port", port});
  EXPECT_EQ(w.exit_code, 0) << w.err;
  const ToolRun r = RunTool("tokenclient", {"-host", host, "-port", port, "-read", "-id", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("name=abc low=5 mid=25 high=100"));
}

TEST_F(CliCluster, LoadSummaryAsJson) {
  const ToolRun r = RunTool("tokenload", {"--config", c.config(), "--clients", "2", "--ops", "40",
                                          "--seed", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);  // one object, nothing else on stdout
  EXPECT_EQ(j.at("target"), "token cluster");
  EXPECT_EQ(j.at("clients"), 2);
  EXPECT_GT(j.at("ok_operations").get<int>(), 0);
  EXPECT_EQ(j.at("check").at("verdict"), "linearizable");
}

TEST_F(CliCluster, ControlCharactersInNamesAreEscapedInText) {
  const std::string where = "--server=" + c.node(0);
  const std::string name = "a\x1b[2Jb\tc";
  const ToolRun w = RunTool("tokenclient", {where, "write", "--id", "1", "--name", name, "--low",
                                            "0", "--mid", "1", "--high", "2"});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_THAT(w.out, HasSubstr("name=a\\x1b[2Jb\\tc "));
  EXPECT_EQ(w.out.find('\x1b'), std::string::npos);
  const ToolRun j = RunTool("tokenclient", {where, "--json", "read", "--id", "1"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_EQ(nlohmann::json::parse(j.out).at("name"), name);
}

}  // namespace
}  // namespace token::testing
