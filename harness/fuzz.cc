#include "harness/fuzz.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>
#include <rapidcheck.h>

#include "base/assert.h"
#include "harness/sim_check.h"
#include "harness/uniform_pick.h"
#include "sim/scenario_yaml.h"

namespace tokensim {
namespace {

std::string Address(int i) { return fmt::format("127.0.0.1:{}", 50051 + i); }

// A delay distribution: its kind, min in [min_low, 500 us), max up to 5 ms above it, mean
// in [mean_low, mean_high), tail permille below `permille_end`, factor below `factor_end`.
sim::DelayModel DrawDelay(std::int64_t min_low, std::int64_t mean_low, std::int64_t mean_high,
                          int permille_end, int factor_end) {
  sim::DelayModel d;
  d.kind = static_cast<sim::DelayKind>(Pick(0, 4));
  d.min_ns = Pick<std::int64_t>(min_low, 500'000);
  d.max_ns = d.min_ns + Pick<std::int64_t>(0, 5'000'000);
  d.mean_ns = Pick<std::int64_t>(mean_low, mean_high);
  d.tail_permille = static_cast<std::uint32_t>(Pick(0, permille_end));
  d.tail_factor = static_cast<std::uint32_t>(Pick(1, factor_end));
  return d;
}

// Restarts, in one of four swarm profiles: none; a few single-node restarts (some with
// a power cut that loses unsynced writes, some with the disk lost, some back within a
// millisecond, as under a supervisor that restarts at once, while replies to the old
// process are still on their way); a rolling restart of
// every node in turn; a power cut of the whole cluster at once. Returns whether the
// faults stay within every token's budget, counting a restarted node as a crashed one
// (liveness is then expected; a replaced writer needs every other replica of its tokens).
bool DrawRestarts(sim::Scenario& s, int nodes) {
  const int profile = Pick(0, 4);
  const auto node = [](int i) { return static_cast<token::NodeIndex>(i); };
  if (profile == 1) {
    for (int i = Pick(1, 4); i > 0; --i) {
      // A third of them in the first 5 ms, while nodes run their first operations.
      const std::int64_t at_ns = Pick(0, 3) == 0 ? Pick<std::int64_t>(0, 50) * 100'000
                                                 : Pick<std::int64_t>(0, 80) * 1'000'000;
      sim::Fault f{sim::FaultKind::kRestartNode, at_ns, node(Pick(0, nodes)), 0};
      f.down_ns = Pick(0, 3) == 0 ? std::int64_t{1'000} << Pick(0, 11)  // 1 us to 1 ms
                                  : Pick<std::int64_t>(1, 30) * 1'000'000;
      f.lose_unsynced = Pick(0, 2) == 1;
      f.disk_lost = Pick(0, 5) == 0;
      s.faults.push_back(f);
    }
  } else if (profile == 2) {
    const std::int64_t gap_ns = Pick<std::int64_t>(5, 30) * 1'000'000;
    for (int i = 0; i < nodes; ++i) {
      sim::Fault f{sim::FaultKind::kRestartNode, (i + 1) * gap_ns, node(i), 0};
      f.down_ns = gap_ns / 2;
      f.lose_unsynced = Pick(0, 2) == 1;
      s.faults.push_back(f);
    }
  } else if (profile == 3) {
    const std::int64_t at_ns = Pick<std::int64_t>(5, 80) * 1'000'000;
    const std::int64_t down_ns = Pick<std::int64_t>(1, 30) * 1'000'000;
    for (int i = 0; i < nodes; ++i) {
      sim::Fault f{sim::FaultKind::kRestartNode, at_ns, node(i), 0};
      f.down_ns = down_ns;
      f.lose_unsynced = true;
      s.faults.push_back(f);
    }
  }
  const auto& sch = *s.scheme;
  for (token::TokenIndex t = 0; t < sch.tokens().size(); ++t) {
    const token::TokenScheme& ts = sch.token(t);
    std::vector<bool> down(sch.nodes().size(), false);
    bool writer_replaced = false;
    for (const sim::Fault& f : s.faults) {
      if (!ts.IsReplica(f.node) || (f.kind == sim::FaultKind::kCrashToken && f.token != t)) {
        continue;
      }
      down[f.node] = true;
      writer_replaced = writer_replaced || (f.disk_lost && f.node == ts.writer);
    }
    const auto downs = static_cast<std::size_t>(std::count(down.begin(), down.end(), true));
    if (downs > (ts.replicas.size() - 1) / 2) return false;
    if (writer_replaced && downs > 1) return false;
  }
  return true;
}

// One swarm case: the cluster shape, workload, delays and faults all drawn per case.
rc::Gen<sim::Scenario> ScenarioGen(token::Mutant mutant) {
  return rc::gen::exec([mutant] {
    sim::Scenario s;
    s.name = "fuzz";
    s.seed = *rc::gen::resize(rc::kNominalSize, rc::gen::inRange<std::uint64_t>(1, 1u << 30));
    s.node_options.mutant = mutant;
    s.node_options.fast_read = Pick(0, 4) != 0;

    // Cluster: a pool of nodes shared by 1..4 tokens of 1..7 replicas each.
    const int pool = Pick(1, 9);
    const int tokens = Pick(1, 5);
    std::vector<token::TokenEntry> entries;
    std::vector<int> replicas_of;
    for (int t = 0; t < tokens; ++t) {
      const int n = Pick(1, std::min(7, pool) + 1);
      std::vector<int> nodes(static_cast<std::size_t>(pool));
      for (int i = 0; i < pool; ++i) nodes[static_cast<std::size_t>(i)] = i;
      for (int i = 0; i < n; ++i) {  // a random n-subset, in picked order
        std::swap(nodes[static_cast<std::size_t>(i)],
                  nodes[static_cast<std::size_t>(Pick(i, pool))]);
      }
      token::TokenEntry e;
      e.token = fmt::format("t{}", t);
      e.writer = Address(nodes[0]);
      const bool writer_reads = n == 1 || Pick(0, 4) != 0;
      for (int i = writer_reads ? 0 : 1; i < n; ++i) {
        e.readers.push_back(Address(nodes[static_cast<std::size_t>(i)]));
      }
      entries.push_back(std::move(e));
      replicas_of.push_back(n);
    }
    auto scheme = token::ReplicationScheme::Create(std::move(entries));
    RC_ASSERT(scheme.ok());
    s.scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
    const auto& sch = *s.scheme;
    const int nodes = static_cast<int>(sch.nodes().size());

    // Network.
    s.delay = DrawDelay(10'000, 100'000, 3'000'000, 300, 101);
    s.client_timeout_ns = Pick<std::int64_t>(1, 6) * 1'000'000'000;
    s.retry_reads = Pick(0, 2) == 1;
    const int slow = Pick(0, 3);
    bool slow_beyond_timeout = false;
    for (int i = 0; i < slow; ++i) {
      sim::LinkRule r;
      r.from = static_cast<token::NodeIndex>(Pick(0, nodes));
      if (Pick(0, 2) == 1) r.to = static_cast<token::NodeIndex>(Pick(0, nodes));
      r.extra_ns = Pick<std::int64_t>(1, 2000) * 1'000'000;
      r.start_ns = Pick<std::int64_t>(0, 50) * 1'000'000;
      r.end_ns =
          Pick(0, 2) == 1 ? sim::kForever : r.start_ns + Pick<std::int64_t>(1, 200) * 1'000'000;
      slow_beyond_timeout = slow_beyond_timeout || r.extra_ns * 10 > s.client_timeout_ns;
      s.links.push_back(r);
    }
    s.compute_ns_per_hash = Pick<std::int64_t>(0, 2000);
    s.storage_delay = DrawDelay(1'000, 10'000, 2'000'000, 100, 21);

    // Workload: about 50 operations.
    sim::Workload w;
    w.clients = static_cast<std::uint32_t>(Pick(1, 7));
    w.ops_per_client =
        static_cast<std::uint32_t>(Pick(1, 2 * 50 / static_cast<int>(w.clients) + 2));
    w.read_permille = static_cast<std::uint32_t>(Pick(100, 901));
    w.think_max_ns = Pick<std::int64_t>(0, 3'000'000);
    w.domain_span = static_cast<std::uint64_t>(Pick(1, 17));
    s.workload = w;

    // Faults: per-token crash-stops, mostly within the budget f < n/2, sometimes beyond;
    // now and then a whole-node crash.
    bool within_budget = true;
    for (token::TokenIndex t = 0; t < sch.tokens().size(); ++t) {
      const auto& replicas = sch.token(t).replicas;
      const int n = static_cast<int>(replicas.size());
      const int budget = (n - 1) / 2;
      const bool beyond = Pick(0, 8) == 0;
      const int crashes = beyond ? Pick(budget + 1, n + 1) : Pick(0, budget + 1);
      within_budget = within_budget && crashes <= budget;
      std::vector<token::NodeIndex> order = replicas;
      for (int i = 0; i < crashes; ++i) {
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(Pick(i, n))]);
        s.faults.push_back(sim::Fault{sim::FaultKind::kCrashToken,
                                      Pick<std::int64_t>(0, 60) * 1'000'000,
                                      order[static_cast<std::size_t>(i)], t});
      }
    }
    if (Pick(0, 10) == 0) {
      within_budget = false;
      s.faults.push_back(sim::Fault{sim::FaultKind::kCrashNode,
                                    Pick<std::int64_t>(0, 60) * 1'000'000,
                                    static_cast<token::NodeIndex>(Pick(0, nodes)), 0});
    }
    within_budget = DrawRestarts(s, nodes) && within_budget;
    // A third of the cases make creates and drops among the writer's operations: values
    // that repeat, which the checker tells apart by their versions. Drawn last, so the
    // draws above are those of the cases before it.
    if (Pick(0, 3) == 2) {
      s.workload->create_drop_permille = static_cast<std::uint32_t>(Pick(100, 501));
    }
    const std::int64_t worst_message =
        s.delay.kind == sim::DelayKind::kLongTail
            ? s.delay.max_ns * static_cast<std::int64_t>(s.delay.tail_factor)
        : s.delay.kind == sim::DelayKind::kExponential ? s.delay.min_ns + 20 * s.delay.mean_ns
                                                       : s.delay.max_ns;
    s.expect.verdict = sim::ExpectVerdict::kLinearizable;
    s.expect.liveness =
        within_budget && !slow_beyond_timeout && worst_message * 10 < s.client_timeout_ns;
    s.max_time_ns = 600'000'000'000;
    return s;
  });
}

std::uint64_t CaseKey(std::uint64_t seed, std::uint64_t index) { return seed * 1000003 + index; }

int CaseSize(std::uint64_t index) { return static_cast<int>(std::min<std::uint64_t>(index, 100)); }

// Why `s` fails its expectation; nullopt when it passes.
std::optional<std::string> Mismatch(const sim::Scenario& s) {
  Judgement j = RunAndJudge(s);
  if (j.expectation_met) return std::nullopt;
  return std::move(j.mismatch);
}

// Removes elements of `items` (chunks, then single ones) while `fails` still holds for the
// scenario without them: delta debugging, bounded by `budget` runs.
template <typename T>
void Minimize(sim::Scenario& s, std::vector<T> sim::Scenario::*items, std::string* why,
              std::uint64_t* steps, std::uint64_t budget) {
  for (std::size_t chunk = std::max<std::size_t>((s.*items).size() / 2, 1); chunk >= 1;
       chunk /= 2) {
    for (std::size_t i = 0; i < (s.*items).size() && *steps < budget;) {
      sim::Scenario candidate = s;
      auto& v = candidate.*items;
      v.erase(v.begin() + static_cast<std::ptrdiff_t>(i),
              v.begin() + static_cast<std::ptrdiff_t>(std::min(i + chunk, v.size())));
      ++*steps;
      if (auto candidate_why = Mismatch(candidate)) {
        s = std::move(candidate);
        *why = std::move(*candidate_why);
      } else {
        i += chunk;
      }
    }
    if (chunk == 1) break;
  }
}

// Makes the world simpler while the case still fails: storage that syncs at once, then
// restarts without power cuts or lost disks. Returns whether anything changed.
bool Simplify(sim::Scenario& s, std::string* why, std::uint64_t* steps, std::uint64_t budget) {
  bool changed = false;
  auto attempt = [&](sim::Scenario candidate) {
    if (*steps >= budget) return;
    ++*steps;
    if (auto candidate_why = Mismatch(candidate)) {
      s = std::move(candidate);
      *why = std::move(*candidate_why);
      changed = true;
    }
  };
  if (s.storage_delay.kind != sim::DelayKind::kConstant || s.storage_delay.min_ns != 0) {
    sim::Scenario candidate = s;
    candidate.storage_delay = sim::DelayModel{sim::DelayKind::kConstant, 0, 0, 0, 0, 1};
    attempt(std::move(candidate));
  }
  for (std::size_t i = 0; i < s.faults.size(); ++i) {
    for (bool sim::Fault::*flag : {&sim::Fault::disk_lost, &sim::Fault::lose_unsynced}) {
      if (!(s.faults[i].*flag)) continue;
      sim::Scenario candidate = s;
      candidate.faults[i].*flag = false;
      attempt(std::move(candidate));
    }
  }
  return changed;
}

// After rapidcheck's shrinking: the generated workload becomes the scripted operations the
// clients actually started (same network stream, so the same schedule), and then
// operations, faults and slow links go one chunk at a time while the case still fails.
sim::Scenario Reduce(sim::Scenario s, std::string* why, std::uint64_t* steps,
                     std::uint64_t budget) {
  if (s.workload) {
    sim::Scenario scripted = s;
    scripted.ops = sim::RunSimulation(s).script;
    scripted.workload.reset();
    ++*steps;
    if (auto scripted_why = scripted.ops.empty() ? std::nullopt : Mismatch(scripted)) {
      s = std::move(scripted);
      *why = std::move(*scripted_why);
    }
  }
  if (!s.workload) Minimize(s, &sim::Scenario::ops, why, steps, budget);
  Minimize(s, &sim::Scenario::faults, why, steps, budget);
  Minimize(s, &sim::Scenario::links, why, steps, budget);
  if (Simplify(s, why, steps, budget)) {
    // A simpler world often needs fewer operations to fail: one more pass.
    if (!s.workload) Minimize(s, &sim::Scenario::ops, why, steps, budget);
    Minimize(s, &sim::Scenario::faults, why, steps, budget);
  }
  return s;
}

}  // namespace

sim::Scenario GenerateCase(std::uint64_t seed, std::uint64_t index, token::Mutant mutant) {
  return ScenarioGen(mutant)(rc::Random(CaseKey(seed, index)), CaseSize(index)).value();
}

namespace {

// Shrinks the failing case `index` (greedy descent through rapidcheck's shrink tree, then
// Reduce), writes it as a scenario file and its report into the output directory.
FuzzFailure ShrinkAndWrite(const FuzzOptions& o, std::uint64_t index,
                           const rc::Shrinkable<sim::Scenario>& shrinkable, std::string why) {
  FuzzFailure f;
  f.case_index = index;
  rc::Shrinkable<sim::Scenario> current = shrinkable;
  bool progressed = true;
  while (progressed && f.shrink_steps < o.max_shrink_steps) {
    progressed = false;
    auto shrinks = current.shrinks();
    while (auto candidate = shrinks.next()) {
      if (++f.shrink_steps >= o.max_shrink_steps) break;
      if (auto candidate_why = Mismatch(candidate->value())) {
        current = *candidate;
        why = std::move(*candidate_why);
        progressed = true;
        break;
      }
    }
  }
  const sim::Scenario shrunk =
      Reduce(current.value(), &why, &f.shrink_steps, 2 * o.max_shrink_steps);
  f.reason = why;
  f.shrunk_faults = shrunk.faults.size();
  f.shrunk_operations =
      shrunk.ops.size() +
      (shrunk.workload ? std::uint64_t{shrunk.workload->clients} * shrunk.workload->ops_per_client
                       : 0);
  sim::Scenario named = shrunk;
  named.name = fmt::format("fuzz-seed{}-case{}", o.seed, index);
  named.description = "shrunk by tokensim fuzz: " + why;
  const WrittenCase written = WriteCase(named, o.out_dir, named.name);
  f.yaml_path = written.yaml_path;
  f.html_path = written.html_path;
  return f;
}

}  // namespace

FuzzResult Fuzz(const FuzzOptions& o) {
  TOKEN_ASSERT(o.shards >= 1 && o.shard < o.shards, "shard K of N needs K < N");
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  FuzzResult result;
  const rc::Gen<sim::Scenario> gen = ScenarioGen(o.mutant);
  double last_report = 0;
  auto report = [&](const std::string* failing, std::uint64_t index) {
    if (!o.on_progress) return;
    o.on_progress(FuzzProgress{result.cases_run, elapsed(), result.faults_drawn,
                               result.failures.size(), failing, index});
  };
  for (std::uint64_t i = o.shard; i < o.cases; i += o.shards) {
    if (o.time_limit_s > 0 && elapsed() >= o.time_limit_s) break;
    const rc::Shrinkable<sim::Scenario> shrinkable =
        gen(rc::Random(CaseKey(o.seed, i)), CaseSize(i));
    ++result.cases_run;
    result.faults_drawn += shrinkable.value().faults.size();
    std::optional<std::string> why = Mismatch(shrinkable.value());
    if (o.on_case) o.on_case(i, why.has_value());
    if (why) {
      report(&*why, i);
      const double found_at = elapsed();
      FuzzFailure f = ShrinkAndWrite(o, i, shrinkable, std::move(*why));
      f.seconds_to_failure = found_at;
      result.failures.push_back(std::move(f));
      if (o.max_failures != 0 && result.failures.size() >= o.max_failures) break;
    } else if (elapsed() - last_report >= 0.5) {
      last_report = elapsed();
      report(nullptr, i);
    }
    if (o.cases - i <= o.shards) break;  // the next index would pass the bound (or wrap)
  }
  result.elapsed_s = elapsed();
  report(nullptr, 0);
  return result;
}

}  // namespace tokensim
