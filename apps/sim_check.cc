#include "apps/sim_check.h"

#include <map>

#include <fmt/format.h>

#include "checker/history.h"
#include "checker/report.h"

namespace tokensim {

Judgement RunAndJudge(const sim::Scenario& scenario, const sim::TraceSink& trace) {
  Judgement j;
  j.run = sim::RunSimulation(scenario, trace);
  j.history_jsonl = sim::HistoryToJsonl(scenario, j.run.history);
  checker::ParseResult parsed = checker::ParseHistoryString(j.history_jsonl);
  if (parsed.error) {
    j.parse_error = fmt::format("line {}: {}", parsed.error->line, parsed.error->message);
    j.mismatch = "the simulator's history did not parse: " + *j.parse_error;
    return j;
  }
  j.report = checker::CheckHistory(*parsed.history);
  const sim::Expectation& e = scenario.expect;
  const auto& st = j.run.stats;
  std::vector<std::string> why;
  if (e.verdict == sim::ExpectVerdict::kLinearizable &&
      j.report.overall != checker::Verdict::kLinearizable) {
    why.push_back(fmt::format("expected linearizable, checker says {}",
                              checker::VerdictName(j.report.overall)));
  }
  if (e.verdict == sim::ExpectVerdict::kViolation &&
      j.report.overall != checker::Verdict::kViolation) {
    why.push_back(fmt::format("expected a violation, checker says {}",
                              checker::VerdictName(j.report.overall)));
  }
  if (e.all_complete && (st.ops_info > 0 || st.ops_pending > 0 || st.ops_fail > 0)) {
    why.push_back(
        fmt::format("expected every operation to complete, but {} timed out, {} "
                    "failed and {} were still pending",
                    st.ops_info, st.ops_fail, st.ops_pending));
  }
  if (e.min_ok && st.ops_ok < *e.min_ok) {
    why.push_back(fmt::format("expected at least {} ok operations, got {}", *e.min_ok, st.ops_ok));
  }
  if (e.max_ok && st.ops_ok > *e.max_ok) {
    why.push_back(fmt::format("expected at most {} ok operations, got {}", *e.max_ok, st.ops_ok));
  }
  if (st.hit_event_limit) why.push_back("the run hit its event limit");
  if (e.liveness) {
    // Which (node, token) pairs ever crashed: operations coordinated there may hang.
    const auto& scheme = *scenario.scheme;
    std::vector<bool> crashed(scheme.nodes().size() * scheme.tokens().size(), false);
    for (const sim::Fault& f : scenario.faults) {
      for (token::TokenIndex t = 0; t < scheme.tokens().size(); ++t) {
        if (f.kind == sim::FaultKind::kCrashNode || f.token == t) {
          crashed[f.node * scheme.tokens().size() + t] = true;
        }
      }
    }
    // Pair each invocation with its outcome per process.
    std::map<std::uint32_t, const sim::HistoryEvent*> outstanding;
    std::uint64_t hung = 0;
    std::string first;
    auto judge = [&](const sim::HistoryEvent& inv, bool completed_ok) {
      if (completed_ok || crashed[inv.node * scheme.tokens().size() + inv.token]) return;
      if (hung++ == 0) {
        first = fmt::format("process {}'s {} of token {} at {} (invoked at {} ns)", inv.process,
                            token::OpKindName(inv.kind), scheme.token(inv.token).id,
                            scheme.node(inv.node), inv.time_ns);
      }
    };
    for (const sim::HistoryEvent& ev : j.run.history) {
      if (ev.type == sim::HistoryEvent::Type::kInvoke) {
        outstanding[ev.process] = &ev;
        continue;
      }
      auto it = outstanding.find(ev.process);
      if (it == outstanding.end()) continue;
      judge(*it->second, ev.type == sim::HistoryEvent::Type::kOk);
      outstanding.erase(it);
    }
    for (const auto& [process, inv] : outstanding) judge(*inv, false);
    if (hung > 0) {
      why.push_back(
          fmt::format("liveness: {} operation(s) at live coordinators did not complete, "
                      "first {}",
                      hung, first));
    }
  }
  j.expectation_met = why.empty();
  for (std::size_t i = 0; i < why.size(); ++i) j.mismatch += (i ? "; " : "") + why[i];
  return j;
}

std::string Summary(const sim::Scenario& s, const Judgement& j) {
  const auto& st = j.run.stats;
  std::string out;
  out += fmt::format("scenario {} (seed {}): {} nodes, {} tokens\n",
                     s.name.empty() ? "(unnamed)" : s.name, s.seed, s.scheme->nodes().size(),
                     s.scheme->tokens().size());
  out += fmt::format(
      "operations: {} invoked, {} ok, {} fail, {} info (timed out), {} pending; "
      "{} read retries\n",
      st.ops_invoked, st.ops_ok, st.ops_fail, st.ops_info, st.ops_pending, st.read_retries);
  out += fmt::format("virtual time {}.{:06}s, {} events, {} messages delivered, {} computes{}\n",
                     st.end_time_ns / 1'000'000'000, (st.end_time_ns / 1000) % 1'000'000, st.events,
                     st.messages_delivered, st.computes,
                     st.hit_time_limit ? " (time limit reached)" : "");
  if (j.parse_error) {
    out += "checker: history did not parse: " + *j.parse_error + "\n";
  } else {
    for (const auto& t : j.report.tokens) {
      out += fmt::format("  token {}: {} ({} operations{})\n", t.token,
                         checker::VerdictName(t.verdict), t.operations,
                         t.version_checked ? ", version order checked" : "");
      if (t.verdict != checker::Verdict::kLinearizable) {
        out += fmt::format("    rule: {}\n    {}\n", checker::RuleName(t.rule), t.explanation);
      }
    }
    out += fmt::format("verdict: {}\n", checker::VerdictName(j.report.overall));
  }
  out += j.expectation_met ? "expectation: met\n" : "expectation: NOT met: " + j.mismatch + "\n";
  return out;
}

}  // namespace tokensim
