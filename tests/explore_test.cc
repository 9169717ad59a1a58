// The exhaustive explorer (harness/explore.h): small configurations exhausted with known
// verdicts, every planted bug found with a counterexample that replays as a violation in the
// simulator (from its YAML), reductions that agree with the plain search, liveness, bounds,
// and the schedule's file format.
#include "harness/explore.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness/sim_check.h"
#include "sim/scenario_yaml.h"
#include "support/sanitized.h"
#include "tests/support/mutant_param_name.h"

namespace tokensim {
namespace {

ExploreConfig Shape(std::uint32_t replicas, std::uint32_t readers, std::uint32_t ops,
                    token::Mutant mutant = token::Mutant::kNone) {
  ExploreConfig c = ShapeConfig(replicas, 1, readers, ops);
  c.node_options.mutant = mutant;
  c.max_seconds = 120;  // a safety net: every case here ends far sooner
  return c;
}

// One writer client at the writer and one reader client at each other node, `ops` each:
// nodes 1 and 2 are named by the reads, so the only symmetry swaps them with their
// clients (Explorer::BuildGroup).
ExploreConfig ReaderAtEachNode(std::uint32_t ops, token::Mutant mutant = token::Mutant::kNone) {
  ExploreConfig c = Shape(3, 2, ops, mutant);
  for (std::uint32_t p = 1; p <= 2; ++p) {
    for (ExploreOp& op : c.processes[p]) op.node = static_cast<token::NodeIndex>(p);
  }
  return c;
}

// The counterexample, written as YAML and loaded back, fails in the simulator the way the
// explorer says, with the digest it pinned.
void ExpectReplaysAsViolation(const ExploreResult& r) {
  ASSERT_TRUE(r.counterexample.has_value());
  EXPECT_TRUE(r.replay_fails) << r.replay_mismatch;
  const std::string yaml = sim::ScenarioToYaml(*r.counterexample);
  auto loaded = sim::ParseScenarioYaml(yaml, "counterexample.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString() << "\n" << yaml;
  ASSERT_TRUE(loaded->schedule.has_value());
  const Judgement j = RunAndJudge(*loaded);
  EXPECT_FALSE(j.expectation_met) << yaml;
  ASSERT_TRUE(r.counterexample->expect.digest.has_value());
  EXPECT_EQ(j.run.digest, r.counterexample->expect.digest->digest) << "replays bit for bit";
  if (r.verdict == ExploreResult::Verdict::kSafety) {
    EXPECT_EQ(j.report.overall, checker::Verdict::kViolation) << j.mismatch << "\n" << yaml;
  } else {
    EXPECT_NE(j.mismatch.find("liveness"), std::string::npos) << j.mismatch;
  }
}

TEST(Explore, CorrectProtocolSmallConfigExhaustedWithoutViolation) {
  const ExploreResult r = Explore(Shape(3, 1, 1));
  EXPECT_TRUE(r.exhausted) << r.stopped_by;
  EXPECT_EQ(r.verdict, ExploreResult::Verdict::kNone) << r.violation;
  EXPECT_TRUE(r.liveness_checked);
  EXPECT_GT(r.terminal, 0u);
  EXPECT_GT(r.unique, 300u);
  EXPECT_GE(r.states, r.unique - 1);
}

TEST(Explore, CorrectProtocolWithACrashWithinTheBudget) {
  ExploreConfig c = Shape(3, 0, 2);
  c.crashes = 1;
  const ExploreResult r = Explore(c);
  EXPECT_TRUE(r.exhausted) << r.stopped_by;
  EXPECT_EQ(r.verdict, ExploreResult::Verdict::kNone) << r.violation;
  EXPECT_TRUE(r.liveness_checked);
}

TEST(Explore, CorrectWriterExhaustedWithOneRestart) {
  ExploreConfig c = Shape(3, 0, 2);
  c.restarts = 1;
  const ExploreResult r = Explore(c);
  EXPECT_TRUE(r.exhausted) << r.stopped_by;
  EXPECT_EQ(r.verdict, ExploreResult::Verdict::kNone) << r.violation;
}

struct PlantedCase {
  token::Mutant mutant;
  std::uint32_t readers;
  std::uint32_t ops;
  std::uint32_t restarts;
  int restart_kind;  // -1: none; 0 plain, 1 power cut, 2 disk lost
};

ExploreConfig ConfigOf(const PlantedCase& p) {
  ExploreConfig c = Shape(3, p.readers, p.ops, p.mutant);
  c.restarts = p.restarts;
  c.restart_plain = p.restart_kind == 0;
  c.restart_power_cut = p.restart_kind == 1;
  c.restart_disk_lost = p.restart_kind == 2;
  return c;
}

// Each planted bug on the smallest configuration that shows it.
const PlantedCase kPlanted[] = {
    {token::Mutant::kReadSkipsImpose, 2, 1, 0, -1},
    {token::Mutant::kWriteAnswersFirstAck, 1, 1, 0, -1},
    {token::Mutant::kReadLocalOnly, 2, 1, 0, -1},
    {token::Mutant::kMinorityQuorum, 1, 1, 0, -1},
    {token::Mutant::kCountStaleAcks, 2, 1, 0, -1},
    {token::Mutant::kAdoptAnyVersion, 1, 2, 0, -1},
    {token::Mutant::kFirstReplyWins, 1, 1, 0, -1},
    {token::Mutant::kFastReadWithoutQuorum, 2, 1, 0, -1},
    {token::Mutant::kAckBeforeDurable, 1, 1, 1, 1},
    {token::Mutant::kWriterCounterInMemory, 0, 2, 1, 0},
    {token::Mutant::kRejoinEmpty, 1, 1, 1, 2},
    {token::Mutant::kOpIdsRestartAtOne, 1, 2, 1, 0},
};

// One test per planted bug (ctest runs them side by side), named by the bug.
void PrintTo(const PlantedCase& p, std::ostream* os) { *os << token::MutantName(p.mutant); }

// One test per planted bug (ctest runs them side by side).
class PlantedBug : public testing::TestWithParam<PlantedCase> {};

TEST_P(PlantedBug, IsFoundAndItsCounterexampleReplays) {
  const PlantedCase& p = GetParam();
  const ExploreResult r = Explore(ConfigOf(p));
  EXPECT_EQ(r.verdict, ExploreResult::Verdict::kSafety) << r.stopped_by;
  EXPECT_FALSE(r.path.empty());
  EXPECT_EQ(r.trace.size(), r.path.size());
  ExpectReplaysAsViolation(r);
  // The correct protocol on the same configuration has no violation as shallow.
  ExploreConfig fixed = ConfigOf(p);
  fixed.node_options.mutant = token::Mutant::kNone;
  fixed.max_depth = r.path.size();
  const ExploreResult ok = Explore(fixed);
  EXPECT_EQ(ok.verdict, ExploreResult::Verdict::kNone) << ok.violation;
}

INSTANTIATE_TEST_SUITE_P(Explore, PlantedBug, testing::ValuesIn(kPlanted),
                         [](const testing::TestParamInfo<PlantedCase>& param) {
                           return token::testing::MutantTestName(param.param.mutant);
                         });

TEST(Explore, EveryPlantedBugHasACase) {
  for (const token::Mutant m : token::kAllMutants) {
    EXPECT_NE(std::find_if(std::begin(kPlanted), std::end(kPlanted),
                           [m](const PlantedCase& p) { return p.mutant == m; }),
              std::end(kPlanted))
        << "no explore case for " << token::MutantName(m);
  }
}

// Sleep sets, symmetry and dropping dead messages reach the same verdicts as the plain
// search: the same shortest counterexample length for a planted bug, and when nothing is
// found the same terminal states and (sleep sets prune steps, not states) the same unique
// states without the two that merge states.
TEST(Explore, ReductionsAgreeWithThePlainSearch) {
  // Lightest first: under the sanitizers the first half runs (testing::Scaled).
  const std::vector<ExploreConfig> configs = {
      Shape(3, 1, 1),
      [] {
        ExploreConfig c = Shape(3, 0, 2);
        c.crashes = 1;
        return c;
      }(),
      Shape(3, 1, 1, token::Mutant::kWriteAnswersFirstAck),
      Shape(3, 1, 1, token::Mutant::kFirstReplyWins),
      Shape(2, 2, 1),  // two interchangeable reader clients
      ReaderAtEachNode(1, token::Mutant::kReadLocalOnly),
      Shape(3, 2, 1, token::Mutant::kReadSkipsImpose),
      ReaderAtEachNode(1, token::Mutant::kReadSkipsImpose),
      Shape(3, 2, 1, token::Mutant::kCountStaleAcks),
      [] {
        ExploreConfig c = Shape(3, 1, 1);
        c.crashes = 1;
        return c;
      }(),
  };
  const auto runs =
      static_cast<std::size_t>(token::testing::Scaled(static_cast<int>(configs.size())));
  for (std::size_t i = 0; i < runs; ++i) {
    SCOPED_TRACE(i);
    ExploreConfig plain = configs[i];
    plain.sleep_sets = false;
    plain.symmetry = false;
    plain.drop_dead = false;
    plain.eager_clients = false;
    const ExploreResult base = Explore(plain);
    std::vector<std::uint64_t> unique(16, 0);
    unique[0] = base.unique;
    for (int mask = 1; mask < 16; ++mask) {
      const bool sleep = (mask & 1) != 0;
      const bool symmetry = (mask & 2) != 0;
      const bool drop = (mask & 4) != 0;
      const bool eager = (mask & 8) != 0;
      ExploreConfig c = configs[i];
      c.sleep_sets = sleep;
      c.symmetry = symmetry;
      c.drop_dead = drop;
      c.eager_clients = eager;
      const ExploreResult r = Explore(c);
      unique[static_cast<std::size_t>(mask)] = r.unique;
      SCOPED_TRACE(testing::Message() << "sleep sets " << sleep << ", symmetry " << symmetry
                                      << ", drop dead " << drop << ", eager clients " << eager);
      EXPECT_EQ(r.verdict, base.verdict);
      EXPECT_EQ(r.exhausted, base.exhausted);
      if (eager) {
        // A give-up (or a dead operation) taken at once is no step of its own.
        EXPECT_LE(r.path.size(), base.path.size());
      } else {
        EXPECT_EQ(r.path.size(), base.path.size());
      }
      if (base.verdict != ExploreResult::Verdict::kNone) continue;
      if (!symmetry && !eager) {
        EXPECT_EQ(r.terminal, base.terminal);
      }
      if (!symmetry && !drop && !eager) {
        EXPECT_EQ(r.unique, base.unique);
      }
      EXPECT_LE(r.unique, base.unique);
      if (sleep) {
        EXPECT_LT(r.states, base.states) << "sleep sets prune some steps";
      }
      if (symmetry) {
        EXPECT_LT(r.unique, base.unique) << "symmetry merges some states";
      }
      if (drop && configs[i].scheme->token(0).replicas.size() >= 3) {
        // (With two replicas every answer counts: a quorum is both.)
        EXPECT_LT(r.unique, base.unique) << "dropping dead messages merges states";
      }
      if (eager && configs[i].crashes > 0) {
        EXPECT_LT(r.unique, base.unique) << "held calls given up at once";
      }
    }
    if (base.verdict != ExploreResult::Verdict::kNone) continue;
    // Sleep sets (with a crash absorbing the delivery of its node's Query) prune steps,
    // never states: with the same other reductions they visit as many (eager clients
    // aside, which end a path when the clients finish: docs/EXPLORE.md).
    for (int mask = 2; mask < 8; mask += 2) {
      EXPECT_EQ(unique[static_cast<std::size_t>(mask | 1)], unique[static_cast<std::size_t>(mask)])
          << "symmetry " << ((mask & 2) != 0) << ", drop dead " << ((mask & 4) != 0);
    }
  }
}

// Threads expand a level's states in chunks and one merges them in order: the search is
// the same step for step, whatever the number of threads (counts, depth, the histories
// checked, the counterexample's path). Chunks hold 512 states: these levels have many.
TEST(Explore, ThreadsDoNotChangeTheSearch) {
  const std::vector<ExploreConfig> configs = {
      Shape(3, 2, 1),
      Shape(3, 2, 1, token::Mutant::kCountStaleAcks),
      [] {
        ExploreConfig c = Shape(3, 2, 2);
        c.crashes = 1;
        c.max_states = 20'000;  // stops inside a level
        return c;
      }(),
  };
  for (std::size_t i = 0; i < configs.size(); ++i) {
    SCOPED_TRACE(i);
    const ExploreResult one = Explore(configs[i]);
    EXPECT_GT(one.max_frontier, 2000U) << "levels of several chunks";
    const std::uint32_t thread_counts[] = {2, 3};
    // Under the sanitizers two threads only (testing::Scaled).
    for (int k = 0; k < token::testing::Scaled(2); ++k) {
      const std::uint32_t threads = thread_counts[k];
      ExploreConfig c = configs[i];
      c.threads = threads;
      const ExploreResult r = Explore(c);
      SCOPED_TRACE(threads);
      EXPECT_EQ(r.verdict, one.verdict);
      EXPECT_EQ(r.exhausted, one.exhausted);
      EXPECT_EQ(r.stopped_by, one.stopped_by);
      EXPECT_EQ(r.states, one.states);
      EXPECT_EQ(r.unique, one.unique);
      EXPECT_EQ(r.terminal, one.terminal);
      EXPECT_EQ(r.depth, one.depth);
      EXPECT_EQ(r.max_frontier, one.max_frontier);
      EXPECT_EQ(r.histories_checked, one.histories_checked);
      EXPECT_EQ(r.trace, one.trace);
      EXPECT_EQ(r.violation, one.violation);
    }
  }
}

// Two reader clients with the same operations are interchangeable: a state and the one
// with the clients swapped (their calls at the nodes, their operations' records, the
// operations each saw finish) meet, so the states fall by half but for the few that swap
// into themselves. A call id left unrenamed anywhere (a node's operations, a host's calls)
// keeps the two apart: 6,443 instead of 3,573 of 7,106, when Node::HashState forgot it.
TEST(Explore, InterchangeableClientsMeet) {
  for (const bool pinned : {false, true}) {
    SCOPED_TRACE(pinned);
    ExploreConfig c = pinned ? ReaderAtEachNode(1) : Shape(2, 2, 1);
    c.sleep_sets = false;  // unique states only
    if (pinned) c.max_depth = 9;
    ExploreConfig plain = c;
    plain.symmetry = false;
    const ExploreResult with = Explore(c);
    const ExploreResult without = Explore(plain);
    EXPECT_EQ(with.verdict, ExploreResult::Verdict::kNone);
    EXPECT_LE(with.unique * 2, without.unique + without.unique / 50)
        << with.unique << " of " << without.unique;
    EXPECT_GT(with.unique * 2, without.unique);
  }
}

// The fingerprint is canonical whatever a node is called: the same configuration with its
// nodes numbered otherwise (the writer first, or last) has as many states under every
// reduction. An operation not yet invoked holds no node, so its placeholder 0 must not
// be renamed as node 0 (it was: 4,076 states against 4,304).
TEST(Explore, NodeNumberingDoesNotChangeTheCount) {
  const auto config = [](int writer) {
    std::string yaml = fmt::format(R"(
name: numbering
scheme:
  - {{token: 1, writer: 127.0.0.1:{}, readers: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3]}}
operations:
  - {{at: 0, process: 0, op: write, token: 1, value: {{name: a, low: 0, mid: 1, high: 2}}}}
)",
                                   writer);
    int p = 1;
    for (int node = 1; node <= 3; ++node) {
      if (node == writer) continue;
      yaml += fmt::format("  - {{at: 0, process: {}, op: read, token: 1, node: 127.0.0.1:{}}}\n",
                          p++, node);
    }
    auto s = sim::ParseScenarioYaml(yaml, "numbering.yaml");
    EXPECT_TRUE(s.ok()) << s.status().ToString() << yaml;
    auto c = ExploreConfigFromScenario(*s);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return *c;
  };
  for (const std::uint32_t crashes : {0U, 1U}) {
    SCOPED_TRACE(crashes);
    ExploreConfig first = config(1);
    ExploreConfig last = config(3);
    first.crashes = last.crashes = crashes;
    first.sleep_sets = last.sleep_sets = false;
    const ExploreResult a = Explore(first);
    const ExploreResult b = Explore(last);
    EXPECT_EQ(a.unique, b.unique);
    EXPECT_EQ(a.terminal, b.terminal);
    EXPECT_EQ(a.verdict, ExploreResult::Verdict::kNone);
  }
}

TEST(Explore, LivenessBeyondTheBudgetFindsAHungOperation) {
  ExploreConfig c = Shape(3, 1, 1);
  c.crashes = 2;
  c.liveness = ExploreConfig::Liveness::kAlways;
  const ExploreResult r = Explore(c);
  ASSERT_EQ(r.verdict, ExploreResult::Verdict::kLiveness);
  EXPECT_NE(r.violation.find("can never complete"), std::string::npos) << r.violation;
  // The writer crashes: its client's write, invoked at once and held, is given up at once
  // (ExploreConfig::eager_clients), and the replay takes those steps too.
  bool eager = false;
  for (const std::string& line : r.trace) {
    eager = eager || line.find("; at once, process 0 gives up its held call") != std::string::npos;
  }
  EXPECT_TRUE(eager) << fmt::format("{}", fmt::join(r.trace, "\n"));
  ExpectReplaysAsViolation(r);
  // Within the budget the check is skipped beyond it, and says so.
  c.liveness = ExploreConfig::Liveness::kWithinBudget;
  c.max_states = 2000;
  EXPECT_FALSE(Explore(c).liveness_checked);
}

TEST(Explore, BoundsStopTheSearchAndSaySo) {
  ExploreConfig c = Shape(3, 2, 1);
  c.max_states = 500;
  ExploreResult r = Explore(c);
  EXPECT_FALSE(r.exhausted);
  EXPECT_NE(r.stopped_by.find("max states"), std::string::npos) << r.stopped_by;
  EXPECT_GE(r.unique, 500u);
  c.max_states = 0;
  c.max_depth = 3;
  r = Explore(c);
  EXPECT_FALSE(r.exhausted);
  EXPECT_NE(r.stopped_by.find("max depth"), std::string::npos) << r.stopped_by;
  EXPECT_EQ(r.depth, 3u);
  // The visited set alone starts above 1 MiB.
  c.max_depth = 0;
  c.max_memory_mb = 1;
  r = Explore(c);
  EXPECT_FALSE(r.exhausted);
  EXPECT_NE(r.stopped_by.find("max memory (1 MiB)"), std::string::npos) << r.stopped_by;
}

TEST(Explore, FifoLinksExploreFewerStates) {
  ExploreConfig c = Shape(3, 1, 1);
  const ExploreResult any = Explore(c);
  c.fifo = true;
  const ExploreResult fifo = Explore(c);
  EXPECT_TRUE(fifo.exhausted);
  EXPECT_EQ(fifo.verdict, ExploreResult::Verdict::kNone);
  EXPECT_LE(fifo.unique, any.unique);
}

TEST(Explore, ConfigFromAScenarioTakesItsScriptedOperations) {
  token::Result<sim::Scenario> s = sim::ParseScenarioYaml(R"(
name: two-writes
scheme:
  - {token: 1, writer: 127.0.0.1:1, readers: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3]}
protocol: {mutant: adopt-any-version}
operations:
  - {at: 0, process: 0, op: write, token: 1, value: {name: a, low: 0, mid: 1, high: 2}}
  - {at: 1ms, process: 0, op: write, token: 1, value: {name: b, low: 0, mid: 0, high: 2}}
  - {at: 2ms, process: 1, op: read, token: 1}
)",
                                                          "two-writes.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto c = ExploreConfigFromScenario(*s);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->processes.size(), 2u);
  EXPECT_EQ(c->processes[0].size(), 2u);
  EXPECT_EQ(c->node_options.mutant, token::Mutant::kAdoptAnyVersion);
  const ExploreResult r = Explore(*c);
  EXPECT_EQ(r.verdict, ExploreResult::Verdict::kSafety);
  ExpectReplaysAsViolation(r);

  sim::Scenario with_workload = *s;
  with_workload.workload = sim::Workload{};
  EXPECT_FALSE(ExploreConfigFromScenario(with_workload).ok());
}

TEST(Explore, ScheduleEntriesAreValidated) {
  const std::string head = R"(
scheme:
  - {token: 1, writer: 127.0.0.1:1, readers: [127.0.0.1:1, 127.0.0.1:2]}
operations:
  - {at: 0, process: 0, op: read, token: 1}
)";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"schedule: {at: 1ms}", "schedule must be a list"},
      {"schedule:\n  - {at: 1ms, deliver: 127.0.0.1:1, n: 0}", "n counts from 1"},
      {"schedule:\n  - {at: 1ms, n: 1}", "a schedule entry is one of"},
      {"schedule:\n  - {at: 1ms, deliver: 127.0.0.1:1, sync: 127.0.0.1:1, n: 1}",
       "a schedule entry is one of"},
      {"schedule:\n  - {at: 1ms, deliver: 127.0.0.1:9, n: 1}", "unknown node"},
      {"schedule:\n  - {deliver: 127.0.0.1:1, n: 1}", "needs 'at' and 'n'"},
      {"schedule:\n  - {at: 1ms, give_up: 0, n: 1, when: 3}", "unknown key 'when'"},
      {"schedule: []\nworkload: {clients: 1, ops_per_client: 1}", "no 'workload'"},
  };
  for (const auto& [tail, message] : bad) {
    auto s = sim::ParseScenarioYaml(head + tail, "bad.yaml");
    ASSERT_FALSE(s.ok()) << tail;
    EXPECT_NE(s.status().message().find(message), std::string::npos) << s.status().message();
  }
  auto empty = sim::ParseScenarioYaml(head + "schedule: []", "ok.yaml");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->schedule.has_value());
  auto again = sim::ParseScenarioYaml(sim::ScenarioToYaml(*empty), "again.yaml");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->schedule.has_value()) << "an empty schedule survives a round trip";
}

}  // namespace
}  // namespace tokensim
