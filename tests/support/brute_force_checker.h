// A brute-force linearizability checker for register histories, as a test reference.
//
// Deliberately naive and independent of checker/linearizability.cc: it tries every order
// of the operations (depth-first over permutations, no memoisation), placing an operation
// only when every ok operation that finished before it started is placed, letting each
// unfinished (info) write or cas take effect or not, and replaying register semantics
// (a cas sets its value when the register holds its expected one; a failed cas that
// completed requires another value) from the initial value. Exponential: for histories of
// a dozen operations.
#pragma once

#include <vector>

#include "checker/history.h"

namespace checker::testing {

inline bool BruteForceLinearizable(const TokenHistory& token) {
  std::vector<const Operation*> must;      // ok operations
  std::vector<const Operation*> optional;  // info writes
  for (const Operation& op : token.ops) {
    if (op.outcome == Outcome::kOk) must.push_back(&op);
    if (op.outcome == Outcome::kInfo && op.type != OpType::kRead) optional.push_back(&op);
  }
  std::vector<const Operation*> all = must;
  all.insert(all.end(), optional.begin(), optional.end());
  std::vector<bool> placed(all.size(), false);

  struct Search {
    const std::vector<const Operation*>& all;
    std::size_t must_count;
    std::vector<bool>& placed;

    bool Run(std::size_t placed_must, ValueId value) {
      if (placed_must == must_count) return true;
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (placed[i]) continue;
        // Every ok operation that finished before all[i] started must already be placed.
        bool ready = true;
        for (std::size_t j = 0; j < must_count && ready; ++j) {
          if (!placed[j] && j != i && all[j]->complete_time < all[i]->invoke_time) ready = false;
        }
        if (!ready) continue;
        ValueId next = value;
        if (all[i]->type == OpType::kRead) {
          if (all[i]->value != value) continue;
        } else if (all[i]->type == OpType::kWrite) {
          next = all[i]->value;
        } else if (all[i]->cas_failed) {
          if (all[i]->expected == value) continue;
        } else {
          if (all[i]->expected != value) continue;
          next = all[i]->value;
        }
        placed[i] = true;
        const bool ok = Run(placed_must + (i < must_count ? 1 : 0), next);
        placed[i] = false;
        if (ok) return true;
      }
      return false;
    }
  };
  Search s{all, must.size(), placed};
  return s.Run(0, kInitialValue);
}

}  // namespace checker::testing
