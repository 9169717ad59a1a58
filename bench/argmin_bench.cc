// Argmin throughput: hashes per second, single-threaded and with 2 threads.
//
//   ./build/bench/argmin_bench --benchmark_counters_tabular=true
//
// Each thread runs its own ArgminTask (as the nodes' worker pools do), in chunks of
// 65,536 points like a driver bounding its slices of work.
#include <benchmark/benchmark.h>

#include "core/token_hash.h"

namespace {

void BM_Argmin(benchmark::State& state) {
  const std::uint64_t chunk = 65536;
  std::uint64_t points = 0;
  std::uint64_t from = static_cast<std::uint64_t>(state.thread_index()) << 40;
  for (auto _ : state) {
    token::ArgminTask task("token manager benchmark", from, from + chunk);
    task.Step(chunk);
    benchmark::DoNotOptimize(task.best());
    points += chunk;
    from += chunk;
  }
  state.counters["hashes_per_second"] =
      benchmark::Counter(static_cast<double>(points), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Argmin)->Threads(1)->UseRealTime();
BENCHMARK(BM_Argmin)->Threads(2)->UseRealTime();

// The one-shot hash for comparison: prefix hashed every time and decimal formatted.
void BM_OneShotHash(benchmark::State& state) {
  std::uint64_t x = 0;
  for (auto _ : state) benchmark::DoNotOptimize(token::TokenHash("token manager benchmark", x++));
  state.counters["hashes_per_second"] =
      benchmark::Counter(static_cast<double>(x), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OneShotHash);

}  // namespace

BENCHMARK_MAIN();
