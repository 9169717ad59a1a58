// Executor: runs a node's protocol tasks one at a time, in posting order.
//
// Tasks posted from any thread (gRPC callbacks, compute workers, the store's sync thread)
// run one at a time, in posting order; timers run a task at or after a steady-clock time.
// After each drained batch of tasks the `after_batch` hook runs (the node server flushes
// its per-peer message batches there), so messages produced by many tasks leave in one
// write per peer.
//
// Tasks normally run on the executor's own thread. RunOrPost lets a caller that may run
// them (a gRPC reaction: it holds no lock and may take a while) run the queue itself when
// no other thread is running tasks: the task then runs on the caller's thread without the
// wake-up of the executor's thread, which on this project's 2-core VM cost more than the
// task (bench/cluster_bench.sh unloaded; docs/ARCHITECTURE.md, "Latency"). Whichever
// thread runs tasks, only one does at a time, so tasks still own the node's state without
// locks. A caller that runs the queue goes on while the next batch holds at most
// kMaxInlineTasks tasks (the chain of one operation: its compute result, its storage
// report), for at most kMaxInlineRounds batches, and hands the rest to the executor's
// thread: under load the gRPC thread goes back to its own work (one node's only serving
// callback thread, --callback-threads) while the executor's thread runs the backlog.
// Measured against one round and four unconditional rounds (docs/ARCHITECTURE.md,
// "Latency").
//
// A timer that does not come due before the ones already set does not wake the thread.
//
// Thread-safety: Post, PostAt, RunOrPost and Stop may be called from any thread. Tasks must
// not block. Bounds: the queue is unbounded in count but each task is small; Stop drains
// nothing: tasks still queued are destroyed unrun.
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
  static constexpr int kMaxInlineRounds = 4;
  static constexpr std::size_t kMaxInlineTasks = 2;

  explicit Executor(Task after_batch = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void Post(Task task);
  // Runs `task` (and whatever is queued) on this thread when no thread is running tasks;
  // otherwise queues it as Post does. The caller must hold no lock a task may take.
  void RunOrPost(Task task);
  // Timers are due on a grid of kTimerGrid (`when` is rounded up to it), so the timers of
  // many calls made within one step of the grid wake the thread once, not once each. The
  // node's timers are give-ups that leave a margin of 20 ms or more (host::GiveUpAt), and
  // its memory trim; none needs finer timing.
  static constexpr Clock::duration kTimerGrid = std::chrono::milliseconds(5);
  void PostAt(Clock::time_point when, Task task);
  // Stops the thread after the task running now; later tasks never run. Waits for a
  // caller of RunOrPost that is running tasks, unless called from a task. Idempotent.
  void Stop();

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
  // Whether the executor's thread has work it must wake for. REQUIRES: mu_ held.
  bool WorkDue(Clock::time_point now) const {
    return !queue_.empty() || (!timers_.empty() && timers_.top().when <= now);
  }

  Task after_batch_;
  std::mutex mu_;
  std::condition_variable cv_;       // the executor's thread waits for work
  std::condition_variable idle_cv_;  // Stop waits for a caller running tasks
  std::deque<Task> queue_;
  std::priority_queue<Timer, std::vector<Timer>, Later> timers_;
  std::uint64_t timer_seq_ = 0;
  bool stopping_ = false;
  bool running_ = false;      // a thread is running tasks
  std::thread::id runner_{};  // which one
  std::thread thread_;
};

}  // namespace token::net
