// ComputePool: worker threads that run argmin computations off the protocol path.
//
// A job computes the argmin of H(name, ·) over [from, to) in chunks and checks its cancel
// flag between chunks, so an abandoned operation (caller gone, deadline passed) stops
// burning a core within a few milliseconds. `done` runs on the worker thread with the
// result (nullopt result when cancelled) and must only hand the result over (post it to
// the executor).
//
// Thread-safety: Submit may be called from any thread. The destructor cancels queued and
// running jobs and joins the workers; `done` is not called for jobs cancelled that way.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/token_hash.h"

namespace token::net {

class ComputePool {
 public:
  struct Job {
    std::string name;
    std::uint64_t from = 0;
    std::uint64_t to = 0;
    std::atomic<bool> cancelled{false};
    // Called once with the argmin, unless cancelled.
    std::function<void(std::optional<HashPoint>)> done;
  };

  // REQUIRES: workers >= 1
  explicit ComputePool(int workers);
  ~ComputePool();
  ComputePool(const ComputePool&) = delete;
  ComputePool& operator=(const ComputePool&) = delete;

  void Submit(std::shared_ptr<Job> job);
  std::uint64_t points_evaluated() const { return points_evaluated_.load(); }

 private:
  void Work();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> points_evaluated_{0};
  std::vector<std::thread> workers_;
};

}  // namespace token::net
