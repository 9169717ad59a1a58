// The memoised linearizability search for one register: any history, repeated values and
// compare-and-set included.
//
// Lowe's just-in-time linearization ("Testing for linearizability", 2017) with the state
// cache of Horn and Kroening ("Faster linearizability checking via P-compositionality",
// 2015), as Porcupine runs it: the invocations and completions, sorted by time, form a
// linked list; the search walks it from the front, linearizing an invoked operation when
// the register allows it (removing it and its completion from the list) and backtracking
// when it reaches a completion of an operation not yet linearized. A state is the set of
// linearized operations with the register's value; a state seen before is not explored
// again, so the work is bounded by the distinct states, not by the orders.
//
// Before it searches: operations that cannot matter are left out (failed ones; reads that
// never returned; unfinished writes and cas whose value no later read or cas observed,
// which may as well never have taken effect), and the history is cut at quiescent points
// (no operation open): every operation before a cut is linearized before any after it, so
// a state's set is kept only for the piece it is in (one bit per operation of the piece).
// An unfinished operation stays open forever: it may take effect at any time or never.
//
// It answers "no linearization" only after exploring every state, and gives up only when
// it exceeds its budget of time or memory, never at a fixed number of operations.
//
// Thread-safety: plain functions of their arguments.
#pragma once

#include <cstdint>
#include <vector>

#include "checker/history.h"

namespace checker {

struct SearchBudget {
  double seconds = 60;                      // wall-clock time, per token
  std::uint64_t memory_bytes = 2ULL << 30;  // the state cache and the stacks, per token
};

struct SearchStats {
  bool ran = false;
  std::uint64_t operations = 0;  // searched, after pruning
  std::uint64_t pruned = 0;      // left out as unable to matter
  std::uint64_t pieces = 0;      // cut at quiescent points
  std::uint64_t states = 0;      // distinct states memoised
  std::uint64_t steps = 0;       // linearization attempts
  std::uint64_t memory_bytes = 0;
  double seconds = 0;
};

enum class SearchOutcome : std::uint8_t {
  kLinearizable,
  kNoLinearization,
  kOutOfTime,
  kOutOfMemory
};

struct SearchResult {
  SearchOutcome outcome = SearchOutcome::kLinearizable;
  SearchStats stats;
  // kNoLinearization: where the longest partial linearization ended. `stuck` could not be
  // placed before its completion, with the register holding `value_at_stuck`; `open` are
  // operations invoked before that completion and not placed (at most a few).
  std::size_t placed = 0;
  const Operation* stuck = nullptr;
  ValueId value_at_stuck = kInitialValue;
  std::vector<const Operation*> open;
};

SearchResult SearchLinearization(const TokenHistory& token, const SearchBudget& budget);

}  // namespace checker
