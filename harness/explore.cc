#include "harness/explore.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "harness/explore_state.h"
#include "harness/sim_check.h"
#include "sim/simulator.h"

namespace tokensim {
namespace explore_detail {

std::uint64_t Explorer::HistoryKey(const State& s) {
  StateHasher key;
  for (const OpRec& r : s.ops) {
    key.Add(static_cast<std::uint64_t>(r.status));
    key.Add(r.before);
    key.Add(r.value_hash);
  }
  return key.low() ^ key.high();
}

bool Explorer::Violates(std::uint64_t key, const State& s) {
  {
    std::lock_guard<std::mutex> lock(verdicts_mutex_);
    if (const auto it = verdicts_.find(key); it != verdicts_.end()) return it->second;
  }
  // Outside the lock: another thread may check an equal-keyed history at the same time,
  // and reaches the same verdict.
  const bool v = CheckSafety(s).has_value();
  std::lock_guard<std::mutex> lock(verdicts_mutex_);
  verdicts_.try_emplace(key, v);
  return v;
}

// The history so far as the simulator writes it, through the project's checker.
std::optional<std::string> Explorer::CheckSafety(const State& s) const {
  std::vector<sim::HistoryEvent> events;
  std::vector<std::uint32_t> process_of(s.ops.size());
  for (std::uint32_t p = 0; p < c_.processes.size(); ++p) {
    for (std::uint32_t k = 0; k < c_.processes[p].size(); ++k) process_of[op_offset_[p] + k] = p;
  }
  for (std::size_t i = 0; i < s.events.size(); ++i) {
    const std::uint32_t index = s.events[i] >> 2;
    const bool invoke = (s.events[i] & 3) == 0;
    const std::uint32_t p = process_of[index];
    const ExploreOp& op = OpOf(p, index - op_offset_[p]);
    const OpRec& rec = s.ops[index];
    sim::HistoryEvent e;
    e.process = p;
    e.kind = op.kind;
    e.token = op.token;
    e.time_ns = static_cast<std::int64_t>(i);
    e.node = rec.node;
    using T = sim::HistoryEvent::Type;
    e.type = invoke                       ? T::kInvoke
             : rec.status == OpRec::kOk   ? T::kOk
             : rec.status == OpRec::kFail ? T::kFail
                                          : T::kInfo;
    if (op.kind == OpKind::kWrite && (invoke || e.type != T::kInvoke)) {
      e.value = token::RegisterValue::Data(token::TokenData{op.domain, std::nullopt});
    } else if (op.kind == OpKind::kCreate) {
      e.value = token::RegisterValue::Empty();
    } else if (op.kind == OpKind::kDrop) {
      e.value = token::RegisterValue::Dropped();
    }
    if (!invoke && rec.status == OpRec::kOk) {
      e.has_version = true;
      e.version = rec.version;
      if (op.kind == OpKind::kRead) e.value = rec.value;
    }
    events.push_back(std::move(e));
  }
  sim::Scenario for_names;
  for_names.scheme = c_.scheme;
  checker::ParseResult parsed = checker::ParseHistoryString(sim::HistoryToJsonl(for_names, events));
  TOKEN_ASSERT(parsed.history.has_value(), "the explorer writes histories the checker reads");
  const checker::Report report = checker::CheckHistory(*parsed.history);
  if (report.overall == checker::Verdict::kViolation) {
    for (const checker::TokenVerdict& t : report.tokens) {
      if (t.verdict != checker::Verdict::kViolation) continue;
      return fmt::format("token {}: {}: {}", t.token, checker::RuleName(t.rule), t.explanation);
    }
  }
  return std::nullopt;
}

std::optional<std::string> Explorer::CheckLiveness(const State& s) const {
  for (std::uint32_t p = 0; p < s.clients.size(); ++p) {
    const Client& cl = s.clients[p];
    if (!cl.busy) continue;
    const OpRec& rec = s.ops[op_offset_[p] + cl.next - 1];
    const ExploreOp& op = OpOf(p, cl.next - 1);
    if (s.nodes[rec.node]->host->node().IsCrashed(op.token)) continue;
    return fmt::format(
        "liveness: process {}'s {} of token {} at {} can never complete (no step is enabled; "
        "its coordinator is live for the token)",
        p, token::OpKindName(op.kind), scheme_.token(op.token).id, scheme_.node(rec.node));
  }
  return std::nullopt;
}

sim::Scenario Explorer::Counterexample(const std::vector<ExploreStep>& path, const std::string& why,
                                       bool liveness, std::vector<std::string>* trace) {
  Recorder rec;
  recorder = &rec;
  State s = Initial();
  for (const ExploreStep& t : path) {
    trace->push_back(Describe(s, t));
    rec.eager.clear();
    Apply(s, t);
    // The client steps taken with it (ExploreConfig::eager_clients).
    for (const std::string& e : rec.eager) trace->back() += fmt::format("; at once, {}", e);
  }
  recorder = nullptr;
  sim::Scenario out;
  out.name = c_.name + "-counterexample";
  out.description =
      fmt::format("tokensim explore: a shortest path ({} steps) to: {}", path.size(), why);
  out.scheme = c_.scheme;
  out.node_options = c_.node_options;
  out.retry_reads = false;
  out.ops = rec.ops;
  // Operations never invoked on the path are left out: the schedule runs what it names.
  out.faults = rec.faults;
  out.schedule = rec.schedule;
  out.max_time_ns = rec.now + 1'000'000'000;
  out.expect.verdict = liveness ? sim::ExpectVerdict::kAny : sim::ExpectVerdict::kLinearizable;
  out.expect.liveness = liveness;
  return out;
}

// The violation found at the end of `path`: its shortest path and counterexample go in `r`.
void Explorer::Finish(ExploreResult& r, std::vector<ExploreStep> path, const std::string& why,
                      bool live) {
  r.path = std::move(path);
  r.verdict = live ? ExploreResult::Verdict::kLiveness : ExploreResult::Verdict::kSafety;
  r.violation = why;
  r.counterexample = Counterexample(r.path, why, live, &r.trace);
}

const State& Explorer::Materialize(std::vector<Made>& made, const std::vector<Level>& levels,
                                   std::size_t d, std::size_t i) {
  if (made.size() < levels.size()) made.resize(levels.size());
  Made& slot = made[d];
  if (slot.index == i) return slot.state;
  if (d == 0) {
    slot.state = Initial();
  } else {
    const Entry& e = levels[d].entries[i];
    // A copy: nodes are shared, not copied.
    State s = Materialize(made, levels, d - 1, e.parent);
    // The last state made here lets go of its nodes first, so that the step can make the
    // node it changes in the scratch's storage.
    slot.state = State{};
    slot.index = ~std::size_t{0};
    slot.scratch.resize(s.nodes.size());
    s.scratch = &slot.scratch;
    Apply(s, e.step);
    s.scratch = nullptr;
    slot.state = std::move(s);
  }
  slot.index = i;
  return slot.state;
}

std::vector<ExploreStep> Explorer::PathTo(const std::vector<Level>& levels, std::size_t d,
                                          std::size_t i) {
  std::vector<ExploreStep> path;
  for (; d > 0; --d) {
    const Entry& e = levels[d].entries[i];
    path.push_back(e.step);
    i = e.parent;
  }
  std::reverse(path.begin(), path.end());
  return path;
}

void Explorer::ExpandChunk(const std::vector<Level>& levels, std::size_t d, std::vector<Made>& made,
                           Chunk& c) {
  c.Clear();
  std::vector<ExploreStep> enabled;
  std::vector<Taken> done;
  std::vector<Taken> asleep;
  std::vector<std::uint64_t> keys;
  Renaming rename;
  Renaming succ_rename;
  State succ;
  std::vector<std::shared_ptr<ExNode>> scratch(scheme_.nodes().size());
  for (std::size_t i = c.begin; i < c.end; ++i) {
    const State& cur = Materialize(made, levels, d, i);
    Enabled(cur, enabled);
    const Entry& me = levels[d].entries[i];
    Parent& p = c.parents.emplace_back();
    if (enabled.empty() && me.only_size == 0) {
      p.terminal = true;
      if (liveness_) p.liveness = CheckLiveness(cur);
    }
    if (c_.max_depth && d >= c_.max_depth) {
      p.bounded = true;
      p.cut = !enabled.empty();  // its successors lie beyond the depth bound
      p.succ_end = static_cast<std::uint32_t>(c.succs.size());
      continue;
    }
    // Its canonical renaming, as its entry keeps it (the initial state's is made here).
    rename = Renaming{};
    if (c_.sleep_sets && (!groups_.empty() || !group_.empty()) && !enabled.empty()) {
      if (d == 0 || (group_.empty() && cur.nodes.size() > 16)) {
        Fingerprint(cur, &rename);
      } else {
        Unpack(me.rename, cur.nodes.size(), &rename);
      }
    }
    // Takes from `cur` each of its enabled steps that is not asleep there (and, when it
    // is re-expanded, that it names). Steps asleep here and steps explored here sleep in
    // a successor when independent of the step that made it.
    const std::uint64_t* sleep_begin = levels[d].keys.data() + me.keys_begin;
    const std::uint64_t* sleep_end = sleep_begin + me.sleep_size;
    const std::uint64_t* only_end = sleep_end + me.only_size;
    const auto asleep_here = [&](std::uint64_t key) {
      return std::find(sleep_begin, sleep_end, key) != sleep_end;
    };
    done.clear();
    asleep.clear();
    keys.clear();
    for (const ExploreStep& t : enabled) {
      keys.push_back(StepKey(cur, t, rename));
      // (What an asleep step does here is not known: not quiet.)
      if (asleep_here(keys.back())) asleep.push_back(Taken{t, NodeOfStep(cur, t), false});
    }
    const bool has_only = me.only_size > 0;
    for (std::size_t ti = 0; ti < enabled.size(); ++ti) {
      const ExploreStep& t = enabled[ti];
      const std::uint64_t key = keys[ti];
      if (asleep_here(key)) continue;
      if (has_only && std::find(sleep_end, only_end, key) == only_end) continue;
      // A delivery a crash may absorb (below): looked up before the step takes it.
      const Message* delivered = nullptr;
      if (c_.sleep_sets && t.kind == Kind::kDeliver && drop_dead_ && cur.crashes < c_.crashes) {
        const auto it = std::find_if(cur.net.begin(), cur.net.end(),
                                     [&t](const Msg& m) { return m.m.from == t.a && m.n == t.b; });
        if (it != cur.net.end()) delivered = &it->m;
      }
      const NodeIndex t_node = NodeOfStep(cur, t);
      succ = cur;  // into the last successor's storage: no allocation for its vectors
      succ.scratch = &scratch;
      Apply(succ, t);
      Successor& out = c.succs.emplace_back();
      out.step = t;
      out.fp = Fingerprint(succ, &succ_rename);
      out.rename = Pack(succ_rename);
      out.sleep_begin = static_cast<std::uint32_t>(c.keys.size());
      if (c_.sleep_sets) {
        // No client invoked, heard back or gave up.
        const Taken taken{t, t_node, succ.events.size() == cur.events.size()};
        for (const auto* list : {&asleep, &done}) {
          for (const Taken& u : *list) {
            if (Independent(u, taken)) c.keys.push_back(StepKey(succ, u.step, succ_rename));
          }
        }
        done.push_back(taken);
        // The crash of the Query's sender absorbs the delivery: crashing it here reaches
        // the state crashing it reaches from `cur` (which takes that crash, or has it
        // asleep), so it sleeps here as a step explored already.
        if (delivered && Absorbed(cur, succ, *delivered)) {
          const ExploreStep crash{Kind::kCrash, delivered->from, delivered->token};
          const std::uint64_t crash_key = StepKey(succ, crash, succ_rename);
          if (std::find(c.keys.begin() + out.sleep_begin, c.keys.end(), crash_key) ==
              c.keys.end()) {
            c.keys.push_back(crash_key);
          }
        }
      }
      out.sleep_size = static_cast<std::uint32_t>(c.keys.size() - out.sleep_begin);
      if (succ.completed) {
        out.checked = true;
        out.history = HistoryKey(succ);
        if (Violates(out.history, succ)) {
          // The explanation cites the history's lines: this history's own (the memo's key
          // leaves out the order of events; the search stops here, so this runs once).
          out.violation = static_cast<std::int32_t>(c.violations.size());
          c.violations.push_back(CheckSafety(succ).value_or("violation"));
        }
      }
    }
    p.succ_end = static_cast<std::uint32_t>(c.succs.size());
  }
}

bool Explorer::Merge(std::vector<Level>& levels, std::size_t d, const Chunk& c, VisitedSet& visited,
                     ExploreResult& r, bool& cut) {
  Level& next = levels.back();
  const auto push = [&](std::size_t parent, const Successor& s,
                        std::span<const std::uint64_t> sleep, std::span<const std::uint64_t> only) {
    // Within --max-memory's range a level holds fewer than 2^31 entries.
    TOKEN_ASSERT(parent <= UINT32_MAX && sleep.size() <= UINT16_MAX && only.size() <= UINT16_MAX,
                 "an explorer level's entry fits its fields");
    Entry e;
    e.step = s.step;
    e.parent = static_cast<std::uint32_t>(parent);
    e.keys_begin = next.keys.size();
    e.rename = s.rename;
    e.sleep_size = static_cast<std::uint16_t>(sleep.size());
    e.only_size = static_cast<std::uint16_t>(only.size());
    next.keys.insert(next.keys.end(), sleep.begin(), sleep.end());
    next.keys.insert(next.keys.end(), only.begin(), only.end());
    next.entries.push_back(e);
  };
  std::vector<std::uint64_t> woken;
  std::vector<std::uint64_t> still;
  std::uint32_t si = 0;
  for (std::size_t k = 0; k < c.parents.size(); ++k) {
    const std::size_t i = c.begin + k;
    const Parent& p = c.parents[k];
    if (p.terminal) ++r.terminal;
    if (p.liveness) {
      pending_ = Pending{PathTo(levels, d, i), *p.liveness, true};
      return false;
    }
    cut = cut || p.cut;
    for (; si < p.succ_end; ++si) {
      if (si + 8 < c.succs.size()) visited.Prefetch(c.succs[si + 8].fp);
      const Successor& s = c.succs[si];
      ++r.states;
      if (s.checked && counted_.insert(s.history).second) ++histories_checked_;
      if (s.violation >= 0) {
        r.unique = visited.size();
        std::vector<ExploreStep> path = PathTo(levels, d, i);
        path.push_back(s.step);
        pending_ =
            Pending{std::move(path), c.violations[static_cast<std::size_t>(s.violation)], false};
        return false;
      }
      const std::span<const std::uint64_t> sleep(c.keys.data() + s.sleep_begin, s.sleep_size);
      const auto [slot, inserted] = visited.Insert(s.fp);
      if (inserted) {
        if (!sleep.empty()) visited.SetSleep(slot, sleep);
        push(i, s, sleep, {});
        continue;
      }
      if (!c_.sleep_sets || visited.Sleep(slot).empty()) continue;
      // Reached again: the steps asleep before but awake now must be taken from it too.
      woken.clear();
      still.clear();
      for (const std::uint64_t key : visited.Sleep(slot)) {
        (std::find(sleep.begin(), sleep.end(), key) == sleep.end() ? woken : still).push_back(key);
      }
      if (woken.empty()) continue;
      visited.SetSleep(slot, still);
      push(i, s, still, woken);
    }
    if (p.bounded) continue;
    r.unique = visited.size();
    const double now =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::size_t frontier = next.entries.size();
    if (c_.progress && now - last_progress_ >= 1.0) {
      last_progress_ = now;
      c_.progress(
          ExploreProgress{r.states, r.unique, d, levels[d].entries.size() - i - 1 + frontier, now});
    }
    // The levels' memory: checked every 4096 states (it only grows).
    if ((i & 4095) == 0) {
      levels_bytes_ = 0;
      for (const Level& l : levels) {
        levels_bytes_ +=
            l.entries.capacity() * sizeof(Entry) + l.keys.capacity() * sizeof(std::uint64_t);
      }
    }
    if (std::string bound =
            BoundReached(visited.size(), frontier, visited.bytes() + levels_bytes_, now);
        !bound.empty()) {
      r.stopped_by = std::move(bound);
      return false;
    }
  }
  return true;
}

// The bound the search has reached ("" while none), checked after each state it expands.
std::string Explorer::BoundReached(std::size_t unique, std::size_t next, std::size_t bytes,
                                   double now) const {
  if (c_.max_states && unique >= c_.max_states) {
    return fmt::format("max states ({})", c_.max_states);
  }
  if (c_.max_seconds > 0 && now >= c_.max_seconds) {
    return fmt::format("time limit ({} s)", c_.max_seconds);
  }
  if (c_.max_frontier && next >= c_.max_frontier) {
    return fmt::format("max frontier ({} states)", c_.max_frontier);
  }
  if (c_.max_memory_mb && bytes >= (c_.max_memory_mb << 20)) {
    return fmt::format("max memory ({} MiB)", c_.max_memory_mb);
  }
  return "";
}

ExploreResult Explorer::Run() {
  start_ = std::chrono::steady_clock::now();
  last_progress_ = 0;
  ExploreResult r;
  r.liveness_checked = liveness_;
  VisitedSet visited;
  // Level d holds the states first reached at depth d (and re-expansions of earlier ones
  // reached again there with fewer steps asleep), as steps from the level before.
  std::vector<Level> levels(1);
  levels[0].entries.push_back(Entry{});
  {
    Renaming rename;
    visited.Insert(Fingerprint(Initial(), &rename));
  }
  const std::size_t threads = std::max<std::size_t>(1, c_.threads);
  // Each thread's states, made along their paths (Materialize).
  std::vector<std::vector<Made>> made(threads);
  bool cut = false;
  for (std::uint64_t depth = 0; !levels.back().entries.empty(); ++depth) {
    r.depth = depth;
    const std::size_t size = levels[depth].entries.size();
    r.max_frontier = std::max<std::uint64_t>(r.max_frontier, size);
    levels.emplace_back();
    if (depth >= 1) {
      // The level before this one is expanded: its sleep sets are no longer read. The next
      // level's go in their room (memory already touched; fresh pages cost this VM dearly).
      levels.back().keys = std::move(levels[depth - 1].keys);
      levels.back().keys.clear();
    }
    const bool more = ExpandLevel(levels, depth, made, visited, r, cut);
    if (pending_) {
      // Every worker has stopped: the counterexample is made again on this thread.
      Finish(r, std::move(pending_->path), pending_->why, pending_->liveness);
      pending_.reset();
    }
    if (!more) break;
    if (cut) r.stopped_by = fmt::format("max depth ({})", c_.max_depth);
  }
  r.unique = visited.size();
  r.histories_checked = histories_checked_;
  r.exhausted = r.verdict == ExploreResult::Verdict::kNone && r.stopped_by.empty();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return r;
}

// Level `depth` in chunks of consecutive entries: worker threads expand them (each with
// its own states), this thread merges them in order, so the search is the same whatever
// the number of threads. false when it stops.
bool Explorer::ExpandLevel(std::vector<Level>& levels, std::size_t depth,
                           std::vector<std::vector<Made>>& made, VisitedSet& visited,
                           ExploreResult& r, bool& cut) {
  const std::size_t size = levels[depth].entries.size();
  constexpr std::size_t kChunk = 512;
  const std::size_t chunks = (size + kChunk - 1) / kChunk;
  const auto bounds = [&](Chunk& c, std::size_t k) {
    c.begin = k * kChunk;
    c.end = std::min(size, c.begin + kChunk);
  };
  if (made.size() == 1 || chunks == 1) {
    Chunk c;
    for (std::size_t k = 0; k < chunks; ++k) {
      bounds(c, k);
      ExpandChunk(levels, depth, made[0], c);
      if (!Merge(levels, depth, c, visited, r, cut)) return false;
    }
    return true;
  }
  // A window of chunks ahead of the merge: chunk k goes to slot k % window. Wide (a chunk
  // holds some 1,500 successors of 64 bytes), so that the workers keep expanding while the
  // merge stops to double the visited set (1.5 s at 16 million states here).
  const std::size_t window = 128 * made.size();
  std::vector<Chunk> slots(window);
  std::vector<std::size_t> filled(window, ~std::size_t{0});  // the chunk a slot holds
  std::mutex mu;
  std::condition_variable changed;
  std::size_t next = 0;    // the next chunk to expand
  std::size_t merged = 0;  // chunks merged
  bool stop = false;
  const auto work = [&](std::vector<Made>& mine) {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      changed.wait(lock, [&] { return stop || next >= chunks || next < merged + window; });
      if (stop || next >= chunks) return;
      const std::size_t k = next++;
      Chunk& c = slots[k % window];
      lock.unlock();
      bounds(c, k);
      ExpandChunk(levels, depth, mine, c);
      lock.lock();
      filled[k % window] = k;
      changed.notify_all();
    }
  };
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < made.size(); ++t) workers.emplace_back(work, std::ref(made[t]));
  bool more = true;
  for (std::size_t k = 0; k < chunks && more; ++k) {
    {
      std::unique_lock<std::mutex> lock(mu);
      changed.wait(lock, [&] { return filled[k % window] == k; });
    }
    // The slot is this thread's until `merged` passes it.
    more = Merge(levels, depth, slots[k % window], visited, r, cut);
    std::lock_guard<std::mutex> lock(mu);
    merged = k + 1;
    if (!more) stop = true;
    changed.notify_all();
  }
  for (std::thread& w : workers) w.join();
  return more;
}

}  // namespace explore_detail

using token::OpKind;

token::Result<ExploreConfig> ExploreConfigFromScenario(const sim::Scenario& scenario) {
  if (scenario.workload) {
    return token::Status::InvalidArgument(
        "explore runs scripted 'operations' only: this scenario has a 'workload'");
  }
  if (scenario.ops.empty()) {
    return token::Status::InvalidArgument("explore needs 'operations' (the scenario has none)");
  }
  ExploreConfig c;
  c.name = scenario.name.empty() ? "explore" : scenario.name;
  c.scheme = scenario.scheme;
  c.node_options = scenario.node_options;
  std::vector<const sim::ScriptedOp*> ops;
  for (const sim::ScriptedOp& op : scenario.ops) ops.push_back(&op);
  std::stable_sort(ops.begin(), ops.end(), [](const sim::ScriptedOp* a, const sim::ScriptedOp* b) {
    return a->at_ns < b->at_ns;
  });
  std::uint32_t processes = 0;
  for (const sim::ScriptedOp* op : ops) processes = std::max(processes, op->process + 1);
  if (processes > 16 || ops.size() > 32) {
    return token::Status::InvalidArgument(fmt::format(
        "explore takes at most 16 processes and 32 operations (this scenario: {} and {})",
        processes, ops.size()));
  }
  c.processes.resize(processes);
  for (const sim::ScriptedOp* op : ops) {
    c.processes[op->process].push_back(ExploreOp{op->kind, op->token, op->domain, op->node});
  }
  return c;
}

ExploreConfig ShapeConfig(std::uint32_t replicas, std::uint32_t tokens, std::uint32_t readers,
                          std::uint32_t ops_per_client) {
  TOKEN_ASSERT(replicas >= 1 && replicas <= 16 && tokens >= 1 && tokens <= 4 && readers <= 8 &&
                   ops_per_client >= 1 && ops_per_client <= 8,
               "shape within its bounds");
  std::vector<token::TokenEntry> entries;
  std::vector<std::string> nodes;
  for (std::uint32_t i = 0; i < replicas; ++i)
    nodes.push_back(fmt::format("127.0.0.1:{}", 50051 + i));
  for (std::uint32_t t = 0; t < tokens; ++t) {
    token::TokenEntry e;
    e.token = fmt::format("{}", t + 1);
    e.writer = nodes[t % replicas];
    e.readers = nodes;
    entries.push_back(std::move(e));
  }
  auto scheme = token::ReplicationScheme::Create(std::move(entries));
  TOKEN_ASSERT(scheme.ok(), "the shape's scheme is valid");
  ExploreConfig c;
  c.name = fmt::format("shape-{}r-{}t-{}w{}r-{}ops", replicas, tokens, tokens, tokens * readers,
                       ops_per_client);
  c.scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  for (std::uint32_t t = 0; t < tokens; ++t) {
    std::vector<ExploreOp> writes;
    const auto p = static_cast<std::uint32_t>(c.processes.size());
    for (std::uint32_t k = 0; k < ops_per_client; ++k) {
      writes.push_back(ExploreOp{
          OpKind::kWrite, t, token::Domain{fmt::format("p{}w{}", p, k), 0, 1, 2}, std::nullopt});
    }
    c.processes.push_back(std::move(writes));
    for (std::uint32_t r = 0; r < readers; ++r) {
      c.processes.emplace_back(ops_per_client, ExploreOp{OpKind::kRead, t, {}, std::nullopt});
    }
  }
  return c;
}

ExploreResult Explore(const ExploreConfig& config) {
  ExploreResult r = explore_detail::Explorer(config).Run();
  if (r.counterexample) {
    // Replay it in the simulator: pin its digest and see that it fails there too.
    const Judgement j = RunAndJudge(*r.counterexample);
    r.counterexample->expect.digest = sim::Expectation::PinnedDigest{
        j.run.digest, r.counterexample->seed, r.counterexample->node_options.mutant};
    r.replay_fails = !j.expectation_met;
    r.replay_mismatch = j.mismatch;
  }
  return r;
}

}  // namespace tokensim
