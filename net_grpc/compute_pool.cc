#include "net_grpc/compute_pool.h"

#include "base/assert.h"

namespace token::net {
namespace {
// ~50 µs of hashing per chunk on a SHA-NI core: a cancel takes effect quickly and the
// flag check costs nothing measurable.
constexpr std::uint64_t kChunkPoints = 1024;
}  // namespace

ComputePool::ComputePool(int workers) {
  TOKEN_ASSERT(workers >= 1, "a compute pool needs a worker");
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Work(); });
}

ComputePool::~ComputePool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& job : queue_) job->cancelled = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ComputePool::Submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void ComputePool::Work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    ArgminTask task(job->name, job->from, job->to);
    bool cancelled = false;
    while (!task.Step(kChunkPoints)) {
      if (stopping_.load(std::memory_order_relaxed)) return;
      if (job->cancelled.load(std::memory_order_relaxed)) {
        cancelled = true;
        break;
      }
    }
    points_evaluated_ += task.evaluated();
    if (!cancelled) job->done(task.best());
  }
}

}  // namespace token::net
