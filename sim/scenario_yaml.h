// Scenario files: YAML in, YAML out (format and examples in docs/SCENARIOS.md).
//
// Loading validates everything a run relies on and reports the first problem as
// INVALID_ARGUMENT naming the file and line ("demo.yaml: line 12: faults: unknown node
// 127.0.0.1:9"). Writing produces a file that loads back to the same scenario, so a
// fuzzer's shrunk case replays from the file alone.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "sim/scenario.h"

namespace sim {

token::Result<Scenario> ParseScenarioYaml(std::string_view text, std::string_view source_name);
token::Result<Scenario> LoadScenarioFile(const std::string& path);
std::string ScenarioToYaml(const Scenario& scenario);

// "250us" -> 250000. Units: ns, us, ms, s, m (minutes); a bare 0 is allowed.
token::Result<std::int64_t> ParseDuration(std::string_view text);
std::string FormatDuration(std::int64_t ns);

}  // namespace sim
