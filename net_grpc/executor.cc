#include "net_grpc/executor.h"

#include <utility>

namespace token::net {

Executor::Executor(Task after_batch)
    : after_batch_(std::move(after_batch)), thread_([this] { Run(); }) {}

Executor::~Executor() { Stop(); }

void Executor::Post(Task task) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(task));
    // A thread running tasks takes this one before it stops; only an idle executor's
    // thread needs waking.
    wake = !running_;
  }
  if (wake) cv_.notify_one();
}

void Executor::RunOrPost(Task task) {
  std::deque<Task> batch;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(task));
    if (running_) return;  // the thread running tasks takes it
    running_ = true;
    runner_ = std::this_thread::get_id();
  }
  bool wake = false;
  for (int round = 0;; ++round) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || queue_.empty() || round == kMaxInlineRounds ||
          (round > 0 && queue_.size() > kMaxInlineTasks)) {
        running_ = false;
        runner_ = {};
        // What is left (more tasks, a timer that came due meanwhile) goes to the
        // executor's thread, which waited while this thread ran.
        wake = !stopping_ && WorkDue(Clock::now());
        idle_cv_.notify_all();
        break;
      }
      batch.swap(queue_);
    }
    for (Task& t : batch) t();
    batch.clear();
    if (after_batch_) after_batch_();
  }
  if (wake) cv_.notify_one();
}

void Executor::PostAt(Clock::time_point when, Task task) {
  const Clock::duration since = when.time_since_epoch();
  const Clock::duration rounded =
      (since + kTimerGrid - Clock::duration(1)) / kTimerGrid * kTimerGrid;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    const Clock::time_point due{rounded};
    // The thread waits until the earliest timer (or for a thread running tasks): only an
    // earlier one changes when it must wake.
    wake = timers_.empty() || due < timers_.top().when;
    timers_.push(Timer{due, timer_seq_++, std::move(task)});
  }
  if (wake) cv_.notify_one();
}

void Executor::Stop() {
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
    cv_.notify_one();
    // A caller of RunOrPost running tasks stops after its batch; wait for it, unless this
    // is that caller (Stop from inside a task).
    if (runner_ != std::this_thread::get_id()) {
      idle_cv_.wait(lock, [this] { return !running_ || runner_ == thread_.get_id(); });
    }
  }
  if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) thread_.join();
}

void Executor::Run() {
  std::deque<Task> batch;
  std::vector<Task> due;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      for (;;) {
        if (stopping_) return;
        const auto now = Clock::now();
        if (!running_) {
          while (!timers_.empty() && timers_.top().when <= now) {
            // priority_queue::top is const; the task is moved out through a copy of the node.
            due.push_back(std::move(const_cast<Timer&>(timers_.top()).task));
            timers_.pop();
          }
          if (!queue_.empty() || !due.empty()) break;
        }
        if (timers_.empty() || (running_ && timers_.top().when <= now)) {
          // Nothing timed, or a timer is due while another thread runs tasks: that thread
          // wakes this one when it stops and leaves work behind (RunOrPost).
          cv_.wait(lock);
        } else {
          // A copy: wait_until reads its deadline again after waking, and a PostAt made
          // meanwhile may have moved the queue's storage.
          const Clock::time_point next = timers_.top().when;
          cv_.wait_until(lock, next);
        }
      }
      running_ = true;
      runner_ = std::this_thread::get_id();
      batch.swap(queue_);
    }
    for (Task& t : due) t();
    due.clear();
    for (Task& t : batch) t();
    batch.clear();
    if (after_batch_) after_batch_();
    {
      std::lock_guard lock(mu_);
      running_ = false;
      runner_ = {};
      idle_cv_.notify_all();
    }
  }
}

}  // namespace token::net
