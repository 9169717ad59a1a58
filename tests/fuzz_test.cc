// The fuzzer: the correct protocol passes a few thousand swarm cases, every planted bug is
// caught and shrunk to a scenario file that replays bit for bit and still fails.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "support/mutant_param_name.h"

#include "harness/fuzz.h"
#include "harness/sim_check.h"
#include "sim/scenario_yaml.h"

namespace tokensim {
namespace {

TEST(Fuzz, CorrectProtocolPassesThousandsOfCases) {
  FuzzOptions o;
  o.cases = 3000;
  o.seed = 20261121;
  o.progress = false;
  o.out_dir = ::testing::TempDir() + "/fuzz-correct";
  const FuzzResult r = Fuzz(o);
  EXPECT_FALSE(r.failed) << r.reason << "\nreplay: tokensim replay " << r.yaml_path;
  EXPECT_EQ(r.cases_run, o.cases);
}

TEST(Fuzz, CasesAreDeterministicAndVaried) {
  const sim::Scenario a = GenerateCase(5, 17, token::Mutant::kNone);
  const sim::Scenario b = GenerateCase(5, 17, token::Mutant::kNone);
  EXPECT_EQ(sim::ScenarioToYaml(a), sim::ScenarioToYaml(b));
  std::set<std::string> shapes;
  for (std::uint64_t i = 0; i < 50; ++i) shapes.insert(sim::ScenarioToYaml(GenerateCase(5, i, {})));
  EXPECT_EQ(shapes.size(), 50u);
}

class FuzzMutant : public ::testing::TestWithParam<token::Mutant> {};

TEST_P(FuzzMutant, IsCaughtShrunkAndReplayed) {
  FuzzOptions o;
  o.cases = 20000;
  o.seed = 1;
  o.mutant = GetParam();
  o.progress = false;
  o.out_dir = ::testing::TempDir() + "/fuzz-" + std::string(token::MutantName(GetParam()));
  const FuzzResult r = Fuzz(o);
  ASSERT_TRUE(r.failed) << token::MutantName(GetParam()) << " survived " << r.cases_run << " cases";
  ASSERT_FALSE(r.yaml_path.empty());
  // Beside the file, its report: a page that names the violation.
  ASSERT_FALSE(r.html_path.empty());
  std::ifstream html(r.html_path);
  const std::string page((std::istreambuf_iterator<char>(html)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("\"verdict\":\"violation\""), std::string::npos) << r.html_path;
  auto loaded = sim::LoadScenarioFile(r.yaml_path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->node_options.mutant, GetParam());
  // The file alone reproduces the failure, with the same digest every time.
  const Judgement first = RunAndJudge(*loaded);
  const Judgement second = RunAndJudge(*loaded);
  EXPECT_FALSE(first.expectation_met);
  EXPECT_EQ(first.run.digest, second.run.digest);
  // Shrunk to a case a person can read: with seed 1 every planted bug needs at most eight
  // operations and two faults (docs/ARCHITECTURE.md lists them).
  EXPECT_LE(r.shrunk_operations, 8u) << r.yaml_path;
  EXPECT_LE(r.shrunk_faults, 2u) << r.yaml_path;
  std::filesystem::remove_all(o.out_dir);
}

INSTANTIATE_TEST_SUITE_P(All, FuzzMutant, ::testing::ValuesIn(token::kAllMutants),
                         token::testing::MutantParamName);

}  // namespace
}  // namespace tokensim

namespace tokensim {
namespace {

// Fuzz reduction relies on this: a workload replaced by the operations its clients started
// (with their nodes) gives the same run.
TEST(Fuzz, ScriptedClientsReplayTheWorkload) {
  int compared = 0;
  for (std::uint64_t i = 0; i < 200; ++i) {
    const sim::Scenario s = GenerateCase(3, i, token::Mutant::kNone);
    const sim::SimResult original = sim::RunSimulation(s);
    sim::Scenario scripted = s;
    scripted.ops = original.script;
    scripted.workload.reset();
    if (scripted.ops.empty()) continue;
    const sim::SimResult replay = sim::RunSimulation(scripted);
    ASSERT_EQ(sim::HistoryToJsonl(s, original.history), sim::HistoryToJsonl(s, replay.history))
        << "case " << i << "\n"
        << sim::ScenarioToYaml(s);
    ++compared;
  }
  EXPECT_GT(compared, 150);
}

}  // namespace
}  // namespace tokensim
