// Fifo<T>: a first-in first-out queue in one vector, for queues that are usually short and
// copied often (the explorer copies a node's host at every step it changes): unlike
// std::deque, an empty Fifo allocates nothing, and a copy holds only the live elements.
// pop_front is O(1); the space of popped elements is reclaimed when the queue empties, or
// when they are more than the live ones (amortised O(1) per element).
//
// Thread-safety: a plain value.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace token {

template <class T>
class Fifo {
 public:
  Fifo() = default;
  Fifo(const Fifo& o) : items_(o.begin(), o.end()) {}
  Fifo(Fifo&&) noexcept = default;
  Fifo& operator=(const Fifo& o) {
    if (this != &o) {
      items_.assign(o.begin(), o.end());
      head_ = 0;
    }
    return *this;
  }
  Fifo& operator=(Fifo&&) noexcept = default;

  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }
  void push_back(T v) { items_.push_back(std::move(v)); }
  // REQUIRES: !empty().
  void pop_front() {
    items_[head_] = T{};  // frees what it held now, not at the next compaction
    ++head_;
    if (head_ == items_.size()) {
      clear();
    } else if (head_ > items_.size() - head_) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }
  auto begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const { return items_.end(); }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;  // items_[0, head_) are popped
};

}  // namespace token
