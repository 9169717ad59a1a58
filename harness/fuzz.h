// Schedule fuzzing: rapidcheck generates whole scenarios in the swarm-testing style, each
// run in the simulator and judged (safety always; liveness within the fault budget); a
// failing case is shrunk with rapidcheck's shrink tree and written as a scenario YAML that
// `tokensim replay` reproduces bit for bit.
//
// Case i of a run with seed S is generated from rapidcheck's Random(S * 1000003 + i) at a
// size that grows with i, so a run is deterministic and its cases are independent: a
// campaign can be split into shards (FuzzOptions::shard) run on different machines, and
// their results merged (harness/campaign.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/node.h"
#include "sim/scenario.h"

namespace tokensim {

// How far a run has come (for a progress line).
struct FuzzProgress {
  std::uint64_t cases_run = 0;
  double elapsed_s = 0;
  std::uint64_t faults_drawn = 0;  // faults in the generated cases (crashes, restarts)
  std::uint64_t failures = 0;
  const std::string* failing = nullptr;  // set once as a failure is found, before shrinking
  std::uint64_t failing_case = 0;
};

// A campaign may be split into shards: shard K of N runs the cases whose index i has
// i % N == K (and i < cases), so N shards with the same seed run exactly the cases of one
// unsharded run, each once.
struct FuzzOptions {
  std::uint64_t cases = 1000;  // case indices below this (UINT64_MAX: no bound)
  std::uint64_t seed = 1;
  double time_limit_s = 0;  // 0: none; otherwise stop when it is reached or after `cases`
  std::uint64_t shard = 0;
  std::uint64_t shards = 1;
  std::uint64_t max_failures = 1;  // stop after this many failing cases (0: never stop early)
  token::Mutant mutant = token::Mutant::kNone;
  std::string out_dir = "fuzz-out";
  std::uint64_t max_shrink_steps = 2000;
  // Called about twice a second and once as each failure is found (before it is shrunk).
  std::function<void(const FuzzProgress&)> on_progress;
  // Called after each case with its index and whether it failed (tests).
  std::function<void(std::uint64_t index, bool failed)> on_case;
};

struct FuzzFailure {
  std::uint64_t case_index = 0;
  double seconds_to_failure = 0;
  std::string reason;     // why the shrunk case fails
  std::string yaml_path;  // where the shrunk case was written ("" when it could not be)
  std::string html_path;  // its HTML report (replayed from the file), when written
  std::uint64_t shrink_steps = 0;
  std::uint64_t shrunk_operations = 0;
  std::uint64_t shrunk_faults = 0;
};

struct FuzzResult {
  std::uint64_t cases_run = 0;
  double elapsed_s = 0;
  std::uint64_t faults_drawn = 0;
  std::vector<FuzzFailure> failures;  // in case order
  bool failed() const { return !failures.empty(); }
};

// Generates case `index` of a run with `seed` (used by tests and benchmarks too).
sim::Scenario GenerateCase(std::uint64_t seed, std::uint64_t index, token::Mutant mutant);

FuzzResult Fuzz(const FuzzOptions& options);

}  // namespace tokensim
