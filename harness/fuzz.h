// Schedule fuzzing: rapidcheck generates whole scenarios in the swarm-testing style, each
// run in the simulator and judged (safety always; liveness within the fault budget); a
// failing case is shrunk with rapidcheck's shrink tree and written as a scenario YAML that
// `tokensim replay` reproduces bit for bit.
//
// Case i of a run with seed S is generated from rapidcheck's Random(S * 1000003 + i) at a
// size that grows with i, so a run is deterministic and its cases are independent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/node.h"
#include "sim/scenario.h"

namespace tokensim {

struct FuzzOptions {
  std::uint64_t cases = 1000;
  std::uint64_t seed = 1;
  double time_limit_s = 0;  // 0: none
  token::Mutant mutant = token::Mutant::kNone;
  std::string out_dir = "fuzz-out";
  bool progress = true;
  std::uint64_t max_shrink_steps = 2000;
};

struct FuzzResult {
  std::uint64_t cases_run = 0;
  double elapsed_s = 0;
  bool failed = false;
  std::uint64_t failing_case = 0;
  double seconds_to_failure = 0;
  std::string reason;     // why the shrunk case fails
  std::string yaml_path;  // where the shrunk case was written
  std::string html_path;  // its HTML report (replayed from the file), when written
  std::uint64_t shrink_steps = 0;
  std::uint64_t shrunk_operations = 0;
  std::uint64_t shrunk_faults = 0;
};

// Generates case `index` of a run with `seed` (used by tests and benchmarks too).
sim::Scenario GenerateCase(std::uint64_t seed, std::uint64_t index, token::Mutant mutant);

FuzzResult Fuzz(const FuzzOptions& options);

}  // namespace tokensim
