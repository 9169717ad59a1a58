#include "checker/search.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <unordered_map>

namespace checker {
namespace {

// One operation's effect on the register: false when it cannot take effect in `state`.
bool Step(const Operation& op, ValueId state, ValueId* next) {
  switch (op.type) {
    case OpType::kRead:
      *next = state;
      return op.value == state;
    case OpType::kWrite:
      *next = op.value;
      return true;
    case OpType::kCas:
      if (op.cas_failed) {
        *next = state;
        return state != op.expected;
      }
      *next = op.value;
      return state == op.expected;
  }
  return false;
}

std::uint64_t Mix(std::uint64_t h, std::uint64_t x) {
  h ^= x + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 29);
}

// The set of visited states, each a (register value, set of linearized operations) kept as
// a 128-bit fingerprint: two Zobrist hashes of the set (the xor of a random key per
// operation, updated in O(1) as operations are linearized and undone), each mixed with the
// value. Open addressing; the table doubles only while the memory budget allows.
class StateCache {
 public:
  enum class Result : std::uint8_t { kNew, kSeen, kFull };
  explicit StateCache(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

  Result Insert(std::uint64_t set1, std::uint64_t set2, ValueId value) {
    const auto v = static_cast<std::uint64_t>(static_cast<std::uint32_t>(value));
    std::uint64_t a = set1 ^ Mix(0x243F6A8885A308D3ULL, v);
    const std::uint64_t b = set2 ^ Mix(0x13198A2E03707344ULL, v);
    if (a == 0 && b == 0) a = 1;  // (0, 0) marks an empty slot
    if ((count_ + 1) * 2 > slots_.size()) {
      if (std::max<std::size_t>(64, slots_.size() * 2) * sizeof(Slot) > max_bytes_) {
        return Result::kFull;
      }
      Grow();
    }
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = a & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.a == 0 && slot.b == 0) {
        slot = {a, b};
        ++count_;
        return Result::kNew;
      }
      if (slot.a == a && slot.b == b) return Result::kSeen;
    }
  }
  std::uint64_t count() const { return count_; }
  std::uint64_t bytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    std::uint64_t a = 0;
    std::uint64_t b = 0;
  };
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<std::size_t>(64, old.size() * 2), Slot{});
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.a == 0 && slot.b == 0) continue;
      std::size_t i = slot.a & mask;
      while (slots_[i].a != 0 || slots_[i].b != 0) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }
  std::uint64_t max_bytes_;
  std::vector<Slot> slots_;
  std::uint64_t count_ = 0;
};

// The operations that can matter, in invocation order. An unfinished write or cas matters
// only when an operation that matters and completes after its invocation could have
// observed it: a read of its value, a cas expecting its value, or a cas that found the
// register not holding what it expected (any other value serves that one). Unfinished cas
// observe too, so what matters grows to a fixed point.
std::vector<const Operation*> Relevant(const TokenHistory& token) {
  std::unordered_map<ValueId, std::int64_t> last_observer;  // value -> latest completion
  std::int64_t last_failed_cas = std::numeric_limits<std::int64_t>::min();
  std::vector<bool> keep(token.ops.size(), false);
  auto observe = [&](const Operation& op) {
    if (op.type == OpType::kRead || (op.type == OpType::kCas && !op.cas_failed)) {
      const ValueId v = op.type == OpType::kRead ? op.value : op.expected;
      auto [it, inserted] = last_observer.emplace(v, op.complete_time);
      if (!inserted) it->second = std::max(it->second, op.complete_time);
    } else if (op.type == OpType::kCas) {
      last_failed_cas = std::max(last_failed_cas, op.complete_time);
    }
  };
  for (std::size_t i = 0; i < token.ops.size(); ++i) {
    if (token.ops[i].outcome != Outcome::kOk) continue;
    keep[i] = true;
    observe(token.ops[i]);
  }
  for (bool grew = true; grew;) {
    grew = false;
    for (std::size_t i = 0; i < token.ops.size(); ++i) {
      const Operation& op = token.ops[i];
      if (keep[i] || op.outcome != Outcome::kInfo || op.type == OpType::kRead) continue;
      auto it = last_observer.find(op.value);
      if ((it != last_observer.end() && it->second >= op.invoke_time) ||
          last_failed_cas >= op.invoke_time) {
        keep[i] = true;
        grew = true;
        observe(op);  // completes never (kNever): observes whatever came before
      }
    }
  }
  std::vector<const Operation*> ops;
  for (std::size_t i = 0; i < token.ops.size(); ++i) {
    if (keep[i]) ops.push_back(&token.ops[i]);
  }
  return ops;
}

}  // namespace

SearchResult SearchLinearization(const TokenHistory& token, const SearchBudget& budget) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  SearchResult result;
  result.stats.ran = true;
  const std::vector<const Operation*> ops = Relevant(token);
  const std::size_t n = ops.size();
  result.stats.operations = n;
  result.stats.pruned = token.ops.size() - n;

  // Entries: 2i is operation i's invocation, 2i+1 its completion (at kNever when it never
  // completes). Sorted by time, invocations before completions at equal times (they
  // overlap: precedence is strict).
  std::vector<std::uint32_t> order(2 * n);
  for (std::size_t i = 0; i < 2 * n; ++i) order[i] = static_cast<std::uint32_t>(i);
  auto time_of = [&ops](std::uint32_t e) {
    const Operation& op = *ops[e / 2];
    return e % 2 == 0 ? op.invoke_time : op.complete_time;
  };
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const std::int64_t ta = time_of(a);
    const std::int64_t tb = time_of(b);
    if (ta != tb) return ta < tb;
    return a % 2 < b % 2;
  });

  // Pieces between quiescent points (no operation open): the search never has operations
  // of two pieces open at once, so a piece ends in one state per register value.
  {
    std::size_t open = 0;
    bool cut = true;
    for (std::uint32_t e : order) {
      if (e % 2 == 0) {
        result.stats.pieces += cut ? 1 : 0;
        cut = false;
        ++open;
      } else if (--open == 0) {
        cut = true;
      }
    }
  }

  // The doubly linked list of entries, with a head (2n) and a tail (2n + 1).
  const auto head = static_cast<std::uint32_t>(2 * n);
  const auto tail = head + 1;
  std::vector<std::uint32_t> next(2 * n + 2);
  std::vector<std::uint32_t> prev(2 * n + 2);
  {
    std::uint32_t last = head;
    for (std::uint32_t e : order) {
      next[last] = e;
      prev[e] = last;
      last = e;
    }
    next[last] = tail;
    prev[tail] = last;
  }
  std::vector<std::uint32_t>().swap(order);
  auto unlink = [&](std::uint32_t e) {
    next[prev[e]] = next[e];
    prev[next[e]] = prev[e];
  };
  auto relink = [&](std::uint32_t e) {
    next[prev[e]] = e;
    prev[next[e]] = e;
  };

  // Zobrist keys of the operations, fixed (the search is deterministic).
  std::vector<std::uint64_t> key1(n);
  std::vector<std::uint64_t> key2(n);
  for (std::size_t i = 0; i < n; ++i) {
    key1[i] = Mix(0xA4093822299F31D0ULL, i);
    key2[i] = Mix(0x082EFA98EC4E6C89ULL, i);
  }
  std::uint64_t set1 = 0;
  std::uint64_t set2 = 0;
  struct Frame {
    std::uint32_t entry;
    ValueId state;
    bool forced;         // a read (or failed cas) placed as soon as it could: no alternative
    bool urgent;         // `entry` was this level's urgent operation, tried first
    std::uint32_t skip;  // this level's urgent operation (its invocation entry)
  };
  std::vector<Frame> calls;
  calls.reserve(n);
  const std::uint64_t fixed_bytes =
      (next.size() + prev.size()) * 4 + (key1.size() + key2.size()) * 8 + n * sizeof(Frame);
  StateCache cache(budget.memory_bytes > fixed_bytes ? budget.memory_bytes - fixed_bytes : 0);
  ValueId state = kInitialValue;
  std::size_t best = 0;
  bool any_stuck = false;
  auto finish = [&](SearchOutcome outcome) {
    result.outcome = outcome;
    result.stats.states = cache.count();
    result.stats.memory_bytes = fixed_bytes + cache.bytes();
    result.stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
  };
  if (fixed_bytes > budget.memory_bytes) return finish(SearchOutcome::kOutOfMemory);

  // At each level (a set of placed operations) the candidates are the invoked operations
  // before the first completion in the list. The operation of that completion ("urgent":
  // it must be placed before anything that starts after it ends) is tried first, then the
  // others in invocation order; this finds at once the order of a system whose operations
  // take effect at their completions, and changes nothing of what is explored.
  constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  std::uint32_t e = kNone;     // the next candidate in the walk; kNone: a fresh level
  std::uint32_t skip = kNone;  // the level's urgent operation, already tried
  // Undoes placed operations back to the last one that had alternatives; false when none.
  auto backtrack = [&]() {
    while (!calls.empty()) {
      const Frame f = calls.back();
      calls.pop_back();
      set1 ^= key1[f.entry / 2];
      set2 ^= key2[f.entry / 2];
      state = f.state;
      relink(f.entry + 1);
      relink(f.entry);
      if (!f.forced) {
        skip = f.skip;
        e = f.urgent ? next[head] : next[f.entry];
        return true;
      }
    }
    return false;
  };
  // Places invocation entry `c` when the register allows it and the state is new.
  // Returns 1 when placed, 0 when not, -1 when out of memory, -2 when a forced placement
  // leads to a state already explored (so does everything from here).
  auto place = [&](std::uint32_t c, bool urgent) {
    const std::uint32_t i = c / 2;
    ValueId after = state;
    if (!Step(*ops[i], state, &after)) return 0;
    // A read that can take effect now may as well (moving it earlier in any order that
    // places it later keeps that order valid): no other choice is tried here.
    const bool forced = after == state && ops[i]->type != OpType::kWrite &&
                        !(ops[i]->type == OpType::kCas && !ops[i]->cas_failed);
    switch (cache.Insert(set1 ^ key1[i], set2 ^ key2[i], after)) {
      case StateCache::Result::kFull:
        return -1;
      case StateCache::Result::kSeen:
        return forced ? -2 : 0;
      case StateCache::Result::kNew:
        break;
    }
    calls.push_back({c, state, forced, urgent, skip});
    set1 ^= key1[i];
    set2 ^= key2[i];
    state = after;
    unlink(c);
    unlink(c + 1);
    e = kNone;
    return 1;
  };

  while (next[head] != tail) {
    if ((++result.stats.steps & 4095) == 0 &&
        std::chrono::duration<double>(Clock::now() - start).count() > budget.seconds) {
      return finish(SearchOutcome::kOutOfTime);
    }
    int placed = 0;
    if (e == kNone) {
      // A fresh level: find the first completion.
      std::uint32_t r = next[head];
      while (r % 2 == 0) r = next[r];
      if (ops[r / 2]->complete_time == kNever) break;  // only open operations remain: done
      skip = r - 1;
      placed = place(skip, true);
      if (placed == 0) e = next[head];
    } else if (e == skip) {
      e = next[e];
      continue;
    } else if (e % 2 == 0) {
      placed = place(e, false);
      if (placed == 0) e = next[e];
    } else {
      // The completion of an operation not placed yet: this level is exhausted.
      if (!any_stuck || calls.size() > best) {
        any_stuck = true;
        best = calls.size();
        result.placed = best;
        result.stuck = ops[e / 2];
        result.value_at_stuck = state;
        result.open.clear();
        for (std::uint32_t x = next[head]; x != e && result.open.size() < 6; x = next[x]) {
          if (x % 2 == 0 && x != e - 1) result.open.push_back(ops[x / 2]);
        }
      }
      placed = -2;
    }
    if (placed == -1) return finish(SearchOutcome::kOutOfMemory);
    if (placed == -2 && !backtrack()) return finish(SearchOutcome::kNoLinearization);
  }
  return finish(SearchOutcome::kLinearizable);
}

}  // namespace checker
