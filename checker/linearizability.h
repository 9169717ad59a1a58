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
// took effect.
//
// Values that are not unique: where every ok operation carries a version, (value, version)
// names a write, so the zone method runs on the history relabelled that way ("versions");
// otherwise, and for cas, a memoised search (checker/search.h) decides, within a budget of
// time and memory ("search"). The method that decided is part of each token's verdict.
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
#include "checker/search.h"

namespace checker {

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
  kNoLinearization,    // the search found no order (non-unique values, cas)
  kVersionOrder,       // linearizable by values, but not by the versions reported
};
const char* RuleName(Rule r);

// How a token's linearizability was decided.
enum class Method : std::uint8_t {
  kZones,     // unique written values: the zone method
  kVersions,  // values made unique by their versions, then the zone method
  kSearch,    // the memoised search (repeated values without versions, cas)
};
const char* MethodName(Method m);

struct TokenVerdict {
  std::string token;
  Verdict verdict = Verdict::kLinearizable;
  Rule rule = Rule::kNone;
  std::string explanation;           // one sentence naming lines and values
  std::vector<std::uint64_t> lines;  // the input lines of the operations involved
  bool version_checked = false;      // some operation carried a version
  std::size_t operations = 0;
  Method method = Method::kZones;
  SearchStats search;  // when the search ran (method kSearch, or to confirm a violation)
};

struct CheckOptions {
  bool check_versions = true;
  SearchBudget budget;
  // A token of at least this many operations has its version order checked on a thread
  // of its own beside the rest of its check, and a history of at least this many
  // operations has its tokens that the zone method decides checked on several threads.
  // The report is the same either way; SIZE_MAX: never. Measured (tokencheck end to end,
  // `perf stat -r 21..31`, histgen histories of 64 processes, this line at 10,000 against
  // never): 8 tokens at 20,000 and 50,000 operations took 3% and 6% longer on threads, at
  // 100,000 2-6% less, at 300,000 1% less; one token at 20,000 -3..+1% (noise), at 50,000
  // 2-6% less, at 200,000 5% less. 100,000 keeps the several-token case out of its loss;
  // a line of its own for the one-token case (about 50,000) would gain a millisecond.
  std::size_t parallel_from = 100'000;
};

// Checks one token's operations (the zone method, or the exact search).
TokenVerdict CheckToken(const History& history, const TokenHistory& token,
                        const CheckOptions& options = {});

// Linearizability alone, by the zone method. REQUIRES: written values are unique.
// For tests and benchmarks; CheckToken is the entry point.
TokenVerdict CheckZones(const History& history, const TokenHistory& token);
// Linearizability alone, by the memoised search (any history, cas included).
TokenVerdict CheckSearch(const History& history, const TokenHistory& token,
                         const SearchBudget& budget = {});
// Linearizability alone, with writes named by (value, version). REQUIRES: VersionsApply.
TokenVerdict CheckByVersions(const History& history, const TokenHistory& token);
// Whether every ok operation carries a version, the ok writes' versions are distinct and
// no operation is a cas: then (value, version) names the write a read read.
bool VersionsApply(const TokenHistory& token);
// The version order alone.
TokenVerdict CheckVersions(const History& history, const TokenHistory& token);

struct Report {
  std::vector<TokenVerdict> tokens;
  Verdict overall = Verdict::kLinearizable;
  std::size_t operations = 0;
};

Report CheckHistory(const History& history, const CheckOptions& options = {});

}  // namespace checker
