// Turns a checker Report into text for people or JSON for tools.
#pragma once

#include <string>

#include "checker/history.h"
#include "checker/linearizability.h"

namespace checker {

// One line per token, then the overall verdict; violations with their rule and lines.
std::string FormatReportText(const Report& report);
// One JSON object: {"verdict": ..., "operations": N, "tokens": [{...}]}.
std::string FormatReportJson(const Report& report);

// Exit code of tokencheck for a report: 0 linearizable, 1 violation, 2 cannot decide.
int ExitCodeOf(const Report& report);

}  // namespace checker
