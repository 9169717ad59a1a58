// Executor: the one thread that owns a node's protocol state.
//
// Tasks posted from any thread (gRPC callbacks, compute workers) run one at a time, in
// posting order, on the executor's thread; timers run a task at or after a steady-clock
// time. After each drained batch of tasks the `after_batch` hook runs (the node server
// flushes its per-peer message batches there), so messages produced by many tasks leave in
// one write per peer.
//
// Thread-safety: Post, PostAt and Stop may be called from any thread. Tasks must not block.
// Bounds: the queue is unbounded in count but each task is small; Stop drains nothing: tasks
// still queued are destroyed unrun.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace token::net {

class Executor {
 public:
  using Task = std::function<void()>;
  using Clock = std::chrono::steady_clock;

  explicit Executor(Task after_batch = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void Post(Task task);
  void PostAt(Clock::time_point when, Task task);
  // Stops the thread after the task running now; later tasks never run. Idempotent.
  void Stop();
  bool OnExecutorThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct Timer {
    Clock::time_point when;
    std::uint64_t seq;
    Task task;
  };
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const {
      return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
  };
  void Run();

  Task after_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  std::priority_queue<Timer, std::vector<Timer>, Later> timers_;
  std::uint64_t timer_seq_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace token::net
