#include "net_grpc/executor.h"

#include <utility>

namespace token::net {

Executor::Executor(Task after_batch)
    : after_batch_(std::move(after_batch)), thread_([this] { Run(); }) {}

Executor::~Executor() { Stop(); }

void Executor::Post(Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void Executor::PostAt(Clock::time_point when, Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    timers_.push(Timer{when, timer_seq_++, std::move(task)});
  }
  cv_.notify_one();
}

void Executor::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable() && !OnExecutorThread()) thread_.join();
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
        while (!timers_.empty() && timers_.top().when <= now) {
          // priority_queue::top is const; the task is moved out through a copy of the node.
          due.push_back(std::move(const_cast<Timer&>(timers_.top()).task));
          timers_.pop();
        }
        if (!queue_.empty() || !due.empty()) break;
        if (timers_.empty()) {
          cv_.wait(lock);
        } else {
          // A copy: wait_until reads its deadline again after waking, and a PostAt made
          // meanwhile may have moved the queue's storage.
          const Clock::time_point next = timers_.top().when;
          cv_.wait_until(lock, next);
        }
      }
      batch.swap(queue_);
    }
    for (Task& t : due) t();
    due.clear();
    for (Task& t : batch) t();
    batch.clear();
    if (after_batch_) after_batch_();
  }
}

}  // namespace token::net
