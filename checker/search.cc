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

// The set of visited states: (piece, register value, linearized operations of the piece as
// a bitset). Entries live in one arena ([hash, piece<<32 | value, words...]); an open
// addressing table holds their offsets.
class StateCache {
 public:
  // Whether the state is new (then it is remembered).
  bool Insert(std::uint32_t piece, ValueId value, const std::uint64_t* words, std::size_t n) {
    const std::uint64_t key = (std::uint64_t{piece} << 32) | static_cast<std::uint32_t>(value);
    std::uint64_t h = Mix(0, key);
    for (std::size_t i = 0; i < n; ++i) h = Mix(h, words[i]);
    if ((count_ + 1) * 2 > slots_.size()) Grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const std::uint64_t slot = slots_[i];
      if (slot == 0) {
        slots_[i] = arena_.size() + 1;
        arena_.push_back(h);
        arena_.push_back(key);
        arena_.insert(arena_.end(), words, words + n);
        ++count_;
        return true;
      }
      const std::uint64_t* e = &arena_[slot - 1];
      if (e[0] == h && e[1] == key && std::equal(words, words + n, e + 2)) return false;
    }
  }
  std::uint64_t count() const { return count_; }
  std::uint64_t bytes() const {
    return (arena_.capacity() + slots_.size()) * sizeof(std::uint64_t);
  }

 private:
  void Grow() {
    std::vector<std::uint64_t> old = std::move(slots_);
    slots_.assign(std::max<std::size_t>(64, old.size() * 2), 0);
    const std::size_t mask = slots_.size() - 1;
    for (std::uint64_t slot : old) {
      if (slot == 0) continue;
      std::size_t i = arena_[slot - 1] & mask;
      while (slots_[i] != 0) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }
  std::vector<std::uint64_t> arena_;
  std::vector<std::uint64_t> slots_;
  std::uint64_t count_ = 0;
};

// The operations that can matter, in invocation order. An unfinished write or cas matters
// only when something completing after its invocation could have observed it: a read of
// its value, a cas expecting its value, or a cas that found the register not holding what
// it expected (any other value serves that one).
std::vector<const Operation*> Relevant(const TokenHistory& token) {
  std::unordered_map<ValueId, std::int64_t> last_observer;  // value -> latest completion
  std::int64_t last_failed_cas = std::numeric_limits<std::int64_t>::min();
  for (const Operation& op : token.ops) {
    if (op.outcome != Outcome::kOk) continue;
    if (op.type == OpType::kRead || (op.type == OpType::kCas && !op.cas_failed)) {
      const ValueId v = op.type == OpType::kRead ? op.value : op.expected;
      auto [it, inserted] = last_observer.emplace(v, op.complete_time);
      if (!inserted) it->second = std::max(it->second, op.complete_time);
    } else if (op.type == OpType::kCas) {
      last_failed_cas = std::max(last_failed_cas, op.complete_time);
    }
  }
  std::vector<const Operation*> ops;
  for (const Operation& op : token.ops) {
    if (op.outcome == Outcome::kOk) {
      ops.push_back(&op);
    } else if (op.outcome == Outcome::kInfo && op.type != OpType::kRead) {
      auto it = last_observer.find(op.value);
      if ((it != last_observer.end() && it->second >= op.invoke_time) ||
          last_failed_cas >= op.invoke_time) {
        ops.push_back(&op);
      }
    }
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

  // Pieces between quiescent points; each piece's bits start on a word of their own.
  std::vector<std::uint32_t> piece_of(n);
  std::vector<std::uint32_t> bit_of(n);
  std::vector<std::size_t> piece_word;   // first word of each piece
  std::vector<std::size_t> piece_words;  // words of each piece
  {
    std::size_t open = 0;
    std::size_t in_piece = 0;
    std::size_t word = 0;
    bool cut = true;
    for (std::uint32_t e : order) {
      if (e % 2 == 0) {
        if (cut) {
          if (!piece_word.empty()) {
            piece_words.push_back((in_piece + 63) / 64);
            word += piece_words.back();
          }
          piece_word.push_back(word);
          in_piece = 0;
          cut = false;
        }
        piece_of[e / 2] = static_cast<std::uint32_t>(piece_word.size() - 1);
        bit_of[e / 2] = static_cast<std::uint32_t>(word * 64 + in_piece++);
        ++open;
      } else {
        if (--open == 0) cut = true;
      }
    }
    if (!piece_word.empty()) piece_words.push_back((in_piece + 63) / 64);
    result.stats.pieces = piece_word.size();
  }
  std::size_t total_words = 0;
  for (std::size_t w : piece_words) total_words += w;

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

  std::vector<std::uint64_t> bits(total_words, 0);
  StateCache cache;
  struct Frame {
    std::uint32_t entry;
    ValueId state;
  };
  std::vector<Frame> calls;
  calls.reserve(n);
  ValueId state = kInitialValue;
  std::uint32_t e = next[head];
  std::size_t best = 0;
  bool any_stuck = false;
  auto finish = [&](SearchOutcome outcome) {
    result.outcome = outcome;
    result.stats.states = cache.count();
    result.stats.memory_bytes =
        std::max(result.stats.memory_bytes,
                 cache.bytes() + (calls.capacity() * sizeof(Frame)) + bits.size() * 8 +
                     (next.size() + prev.size() + piece_of.size() + bit_of.size()) * 4);
    result.stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
  };
  const std::uint64_t fixed_bytes =
      (next.size() + prev.size() + piece_of.size() + bit_of.size()) * 4 + bits.size() * 8 +
      calls.capacity() * sizeof(Frame);
  if (fixed_bytes > budget.memory_bytes) return finish(SearchOutcome::kOutOfMemory);

  while (next[head] != tail) {
    if ((++result.stats.steps & 4095) == 0) {
      if (std::chrono::duration<double>(Clock::now() - start).count() > budget.seconds) {
        return finish(SearchOutcome::kOutOfTime);
      }
      if (fixed_bytes + cache.bytes() > budget.memory_bytes) {
        return finish(SearchOutcome::kOutOfMemory);
      }
    }
    const std::uint32_t i = e / 2;
    if (e % 2 == 0) {
      ValueId after = state;
      if (Step(*ops[i], state, &after)) {
        const std::uint32_t bit = bit_of[i];
        bits[bit / 64] |= 1ULL << (bit % 64);
        const std::uint32_t piece = piece_of[i];
        if (cache.Insert(piece, after, &bits[piece_word[piece]], piece_words[piece])) {
          calls.push_back({e, state});
          state = after;
          unlink(e);
          unlink(e + 1);
          e = next[head];
          continue;
        }
        bits[bit / 64] &= ~(1ULL << (bit % 64));
      }
      e = next[e];
      continue;
    }
    // The completion of an operation not linearized yet.
    if (ops[i]->complete_time == kNever) break;  // only open operations remain: done
    if (!any_stuck || calls.size() > best) {
      any_stuck = true;
      best = calls.size();
      result.placed = best;
      result.stuck = ops[i];
      result.value_at_stuck = state;
      result.open.clear();
      for (std::uint32_t x = next[head]; x != e && result.open.size() < 6; x = next[x]) {
        if (x % 2 == 0) result.open.push_back(ops[x / 2]);
      }
    }
    if (calls.empty()) return finish(SearchOutcome::kNoLinearization);
    const Frame f = calls.back();
    calls.pop_back();
    const std::uint32_t bit = bit_of[f.entry / 2];
    bits[bit / 64] &= ~(1ULL << (bit % 64));
    state = f.state;
    relink(f.entry + 1);
    relink(f.entry);
    e = next[f.entry];
  }
  return finish(SearchOutcome::kLinearizable);
}

}  // namespace checker
