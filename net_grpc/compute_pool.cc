#include "net_grpc/compute_pool.h"

#include <algorithm>

#include "base/assert.h"

namespace token::net {

int DefaultComputeWorkers() {
  const unsigned cores = std::thread::hardware_concurrency();  // 0 when unknown
  return static_cast<int>(std::clamp(cores, 1u, 8u));
}

ComputePool::ComputePool(int workers) {
  TOKEN_ASSERT(workers >= 1, "a compute pool needs a worker");
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Work(); });
}

ComputePool::~ComputePool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [token, jobs] : queue_) {
      for (auto& job : jobs) job->cancelled = true;
    }
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ComputePool::Enqueue(std::shared_ptr<Job> job) {
  auto [it, idle] = queue_.try_emplace(job->token);
  if (idle) turns_.push_back(job->token);
  it->second.push_back(std::move(job));
}

void ComputePool::Submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    Enqueue(std::move(job));
  }
  cv_.notify_one();
}

void ComputePool::Work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !turns_.empty(); });
      if (stopping_) return;
      // The token whose turn it is runs one slice of its first job; the token goes to the
      // back of the turns while it has more queued, so other workers serve the others.
      const std::uint64_t token = turns_.front();
      turns_.pop_front();
      auto it = queue_.find(token);
      TOKEN_ASSERT(it != queue_.end() && !it->second.empty(), "a token in turn has a job");
      job = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) {
        queue_.erase(it);
      } else {
        turns_.push_back(token);
      }
    }
    if (job->cancelled.load(std::memory_order_relaxed)) continue;  // dropped: never answered
    if (!job->task) job->task.emplace(job->name, job->from, job->to);
    ArgminTask& task = *job->task;
    const std::uint64_t before = task.evaluated();
    bool finished = false;
    bool cancelled = false;
    for (std::uint64_t slice = 0; slice < kSlicePoints; slice += kCheckPoints) {
      if (task.Step(kCheckPoints)) {
        finished = true;
        break;
      }
      if (stopping_.load(std::memory_order_relaxed)) return;
      if (job->cancelled.load(std::memory_order_relaxed)) {
        cancelled = true;
        break;
      }
    }
    points_evaluated_ += task.evaluated() - before;
    if (cancelled) continue;
    if (finished) {
      job->done(task.best());
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      Enqueue(std::move(job));
    }
    cv_.notify_one();
  }
}

}  // namespace token::net
