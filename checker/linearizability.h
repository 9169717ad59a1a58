// Decides whether a history of one register is linearizable, and whether it respects the
// version order the protocol promises ("the atomic rule").
//
// Linearizability, unique written values: the Gibbons-Korach zone method, exact and
// O(n log n). Every written value forms a cluster (its write and the reads of it; the
// initial value has a virtual write before everything). A cluster's zone runs from the
// earliest completion to the latest invocation among its operations: forward when the
// earliest completion comes first, backward otherwise. The history is linearizable iff
// no read precedes its own write, no read returns a value never written, no two forward
// zones overlap, and no backward zone lies inside a forward zone.
//
// Pending operations: an `info` (or never completed) write may take effect at any time
// after its invocation or never: it counts only when some read returned its value, with
// an open-ended interval. `info` reads carry no information and `fail` operations never
// took effect. Values that are not unique: an exact search (Wing-Gong with memoisation)
// for histories of at most kMaxExactOps operations, otherwise "cannot decide".
//
// Version order (ok operations that carry a version): versions follow real time (an
// operation that starts after another finished never has a smaller version, and a write
// then has a strictly larger one), reads of version v return the value written with v,
// and no read returns a version whose write started after the read ended.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checker/history.h"

namespace checker {

inline constexpr std::size_t kMaxExactOps = 64;

enum class Verdict : std::uint8_t { kLinearizable, kViolation, kCannotDecide };
const char* VerdictName(Verdict v);

// The rule that broke, in the words of docs/FORMATS.md.
enum class Rule : std::uint8_t {
  kNone,
  kStaleRead,          // a read returned a value older than a write completed before it
  kValueNeverWritten,  // a read returned a value no (non-failed) write wrote
  kReadFromFuture,     // a read returned a value whose write started after it ended
  kNewOldInversion,    // a read returned an older value than a read finished before it
  kWriteOrder,         // writes took effect against their real-time order
  kNoLinearization,    // exact search found no order (non-unique values)
};
const char* RuleName(Rule r);

struct TokenVerdict {
  std::string token;
  Verdict verdict = Verdict::kLinearizable;
  Rule rule = Rule::kNone;
  std::string explanation;           // one sentence naming lines and values
  std::vector<std::uint64_t> lines;  // the input lines of the operations involved
  bool version_checked = false;      // some operation carried a version
  std::size_t operations = 0;
};

struct CheckOptions {
  bool check_versions = true;
};

// Checks one token's operations (the zone method, or the exact search).
TokenVerdict CheckToken(const History& history, const TokenHistory& token,
                        const CheckOptions& options = {});

// Linearizability alone, by the zone method. REQUIRES: written values are unique.
// For tests and benchmarks; CheckToken is the entry point.
TokenVerdict CheckZones(const History& history, const TokenHistory& token);
// Linearizability alone, by exhaustive search. REQUIRES: token.ops.size() <= kMaxExactOps.
TokenVerdict CheckExact(const History& history, const TokenHistory& token);
// The version order alone.
TokenVerdict CheckVersions(const History& history, const TokenHistory& token);

struct Report {
  std::vector<TokenVerdict> tokens;
  Verdict overall = Verdict::kLinearizable;
  std::size_t operations = 0;
};

Report CheckHistory(const History& history, const CheckOptions& options = {});

}  // namespace checker
