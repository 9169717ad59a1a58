// ComputePool: worker threads that run argmin computations off the protocol path, fairly
// across tokens.
//
// A job computes the argmin of H(name, ·) over [from, to) in slices of at most
// kSlicePoints points (a few milliseconds); after each slice an unfinished job goes back
// behind the others. Tokens take turns: the workers serve the tokens with queued work
// round-robin, and each token's jobs round-robin, so one token's huge argmin delays
// another token's small one by at most a slice per worker, never by the whole computation.
// Within a slice the cancel flag is checked every kCheckPoints points, so an abandoned
// operation (caller gone, deadline passed) stops burning a core within about 50 µs, and a
// cancelled job waiting for its turn is dropped when its turn comes. `done` runs on the
// worker thread with the result and must only hand the result over (post it to the
// executor); it is not called for a cancelled job.
//
// Thread-safety: Submit may be called from any thread. The destructor cancels queued and
// running jobs and joins the workers; `done` is not called for jobs cancelled that way.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/token_hash.h"

namespace token::net {

// The default number of compute workers: one per core the machine reports, at least 1 and
// at most 8 (the protocol thread and gRPC's threads need cores too).
int DefaultComputeWorkers();

class ComputePool {
 public:
  static constexpr std::uint64_t kSlicePoints = 1 << 16;  // ~3 ms of one SHA-NI core
  static constexpr std::uint64_t kCheckPoints = 1024;     // ~50 µs

  struct Job {
    std::string name;
    std::uint64_t from = 0;
    std::uint64_t to = 0;
    std::uint64_t token = 0;  // jobs of one token share its turns
    std::atomic<bool> cancelled{false};
    // Called once with the argmin, unless cancelled.
    std::function<void(std::optional<HashPoint>)> done;

   private:
    friend class ComputePool;
    std::optional<ArgminTask> task;  // created at its first slice; only its worker touches it
  };

  // REQUIRES: workers >= 1
  explicit ComputePool(int workers);
  ~ComputePool();
  ComputePool(const ComputePool&) = delete;
  ComputePool& operator=(const ComputePool&) = delete;

  void Submit(std::shared_ptr<Job> job);
  std::uint64_t points_evaluated() const { return points_evaluated_.load(); }
  int workers() const { return static_cast<int>(workers_.size()); }

 private:
  void Work();
  // Queues `job` behind its token's other jobs; the token joins the turns if it was idle.
  // REQUIRES: mu_ held.
  void Enqueue(std::shared_ptr<Job> job);

  std::mutex mu_;
  std::condition_variable cv_;
  // Invariant: a token is in turns_ exactly when queue_ holds a non-empty deque for it.
  std::map<std::uint64_t, std::deque<std::shared_ptr<Job>>> queue_;
  std::deque<std::uint64_t> turns_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> points_evaluated_{0};
  std::vector<std::thread> workers_;
};

}  // namespace token::net
