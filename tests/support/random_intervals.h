// The skeleton of the random small histories the checker's properties use: a few
// processes, operations at increasing linearization points, each with an interval around
// its point (moved now and then when the history is perturbed), some completions unknown
// (info) or missing. Generators decide the operations and their values; this decides when
// they happen and renders the events in time order. Draws from rapidcheck (tokensim::Pick).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "harness/uniform_pick.h"

namespace checker::testing {

class RandomIntervals {
 public:
  RandomIntervals()
      : ops_(tokensim::Pick(3, 11)),
        perturb_(tokensim::Pick(0, 2) == 1),
        free_at_(static_cast<std::size_t>(tokensim::Pick(1, 5)), 0) {}

  int ops() const { return ops_; }
  bool perturb() const { return perturb_; }

  struct Slot {
    std::size_t process = 0;
    long invoke = 0;
    long end = 0;
    bool info = false;   // the completion is unknown (info)
    bool never = false;  // no completion: the process is stuck from here on
  };
  // The next operation's process and interval; false when the process picked is stuck.
  // `may_stay_open`: whether it may be left info or without completion.
  bool Next(bool may_stay_open, Slot* slot) {
    using tokensim::Pick;
    point_ += Pick(1, 6);
    slot->process = static_cast<std::size_t>(Pick(0, static_cast<int>(free_at_.size())));
    long& free_at = free_at_[slot->process];
    if (free_at == kStuck) return false;
    // The interval contains the point unless the process is still busy.
    slot->invoke = std::max(free_at + 1, point_ - Pick(0, 12));
    slot->end = std::max(slot->invoke, point_) + Pick(0, 12);
    const int pending = may_stay_open ? Pick(0, 10) : 2;  // 0: info, 1: never completes
    if (perturb_ && Pick(0, 3) == 0) {
      const long shift = Pick(-15, 15);
      const long moved = std::max(free_at + 1, slot->invoke + shift);
      slot->end = std::max(moved, slot->end + shift);
      slot->invoke = moved;
    }
    free_at = slot->end + 1;
    slot->info = pending == 0;
    slot->never = pending == 1;
    if (slot->never) free_at = kStuck;
    return true;
  }

  void Add(long time, std::string line) { events_.push_back({time, std::move(line)}); }
  // The events in time order (stable), each followed by a newline.
  std::string Text() {
    std::stable_sort(events_.begin(), events_.end(),
                     [](const Event& a, const Event& b) { return a.time < b.time; });
    std::string text;
    for (const Event& e : events_) text += e.line + "\n";
    return text;
  }

 private:
  static constexpr long kStuck = -1000;
  struct Event {
    long time;
    std::string line;
  };
  int ops_;
  bool perturb_;
  std::vector<long> free_at_;
  long point_ = 0;
  std::vector<Event> events_;
};

}  // namespace checker::testing
