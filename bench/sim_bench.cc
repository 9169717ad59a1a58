// Simulator throughput: delivered messages per second on a 5-replica token.
//
//   ./build/bench/sim_bench --benchmark_counters_tabular=true
//
// 32 clients, half reads, 5 replicas (quorum 3), uniform delays; domains of 4 points keep
// the argmin's SHA-256 work small, so the number measures the simulator and the protocol
// core (event queue, network model, Node steps, history recording).
#include <benchmark/benchmark.h>

#include "core/scheme_yaml.h"
#include "sim/simulator.h"

namespace {

sim::Scenario FiveReplicas(std::uint32_t ops_per_client, bool fast_read) {
  auto scheme = token::ParseSchemeYaml(R"(
- token: 1
  writer: 127.0.0.1:1
  readers: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3, 127.0.0.1:4, 127.0.0.1:5]
)");
  sim::Scenario s;
  s.seed = 1;
  s.scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  s.node_options.fast_read = fast_read;
  s.delay = sim::DelayModel{sim::DelayKind::kUniform, 100'000, 2'000'000, 0, 0, 1};
  s.compute_ns_per_hash = 100;
  sim::Workload w;
  w.clients = 32;
  w.ops_per_client = ops_per_client;
  w.read_permille = 500;
  w.think_min_ns = 0;
  w.think_max_ns = 100'000;
  w.domain_span = 4;
  s.workload = w;
  return s;
}

void BM_Simulator(benchmark::State& state) {
  const sim::Scenario s = FiveReplicas(2000, state.range(0) != 0);
  std::uint64_t messages = 0;
  std::uint64_t events = 0;
  std::uint64_t operations = 0;
  for (auto _ : state) {
    const sim::SimResult r = sim::RunSimulation(s);
    messages += r.stats.messages_delivered;
    events += r.stats.events;
    operations += r.stats.ops_ok + r.stats.ops_fail + r.stats.ops_info;
    benchmark::DoNotOptimize(r.digest);
  }
  state.counters["messages_per_second"] =
      benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate);
  // Messages to a node itself are handled inside its host and never delivered by the
  // network, so operations per second is the measure that compares across versions.
  state.counters["operations_per_second"] =
      benchmark::Counter(static_cast<double>(operations), benchmark::Counter::kIsRate);
  state.counters["events_per_second"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Simulator)->Arg(1)->Arg(0)->ArgName("fast_read")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
