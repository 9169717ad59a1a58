// Where a tiny argmin should run: inline on the node's executor thread, or as a job of the
// compute pool (net_grpc/compute_pool.h), whose round trip costs two thread wake-ups (the
// worker, then the executor it posts the result back to). Side by side for domains of
// 1 to 4,096 points:
//   BM_Inline/N     the argmin of N points on the calling thread
//   BM_PoolHop/N    the same job submitted to a 2-worker pool, the caller waiting for its
//                   result on a condition variable (as the executor waits for work)
// The line between them is where BM_Inline's time reaches BM_PoolHop's: tokenserver's
// --inline-argmin-points default (net_grpc/node_server.h) comes from this run.
//
//   ./build/bench/compute_hop_bench
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <memory>
#include <mutex>

#include "core/token_hash.h"
#include "net_grpc/compute_pool.h"

namespace {

constexpr const char* kName = "token manager benchmark";

void BM_Inline(benchmark::State& state) {
  const auto points = static_cast<std::uint64_t>(state.range(0));
  std::uint64_t from = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(token::Argmin(kName, from, from + points));
    from += points;
  }
}
BENCHMARK(BM_Inline)->RangeMultiplier(4)->Range(1, 4096)->UseRealTime();

void BM_PoolHop(benchmark::State& state) {
  const auto points = static_cast<std::uint64_t>(state.range(0));
  token::net::ComputePool pool(2);
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t from = 0;
  for (auto _ : state) {
    bool done = false;
    auto job = std::make_shared<token::net::ComputePool::Job>();
    job->name = kName;
    job->from = from;
    job->to = from + points;
    job->done = [&](std::optional<token::HashPoint> best) {
      benchmark::DoNotOptimize(best);
      {
        std::lock_guard lock(mu);
        done = true;
      }
      cv.notify_one();
    };
    pool.Submit(std::move(job));
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    from += points;
  }
}
BENCHMARK(BM_PoolHop)->RangeMultiplier(4)->Range(1, 4096)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
