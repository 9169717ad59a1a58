#include "harness/sim_check.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "checker/history.h"
#include "checker/report.h"
#include "sim/scenario_yaml.h"

namespace tokensim {

Judgement RunAndJudge(const sim::Scenario& scenario, const sim::TraceSink& trace,
                      std::vector<sim::MessageRecord>* messages) {
  Judgement j;
  j.run = sim::RunSimulation(scenario, trace, messages);
  j.history_jsonl = sim::HistoryToJsonl(scenario, j.run.history);
  checker::ParseResult parsed = checker::ParseHistoryString(j.history_jsonl);
  if (parsed.error) {
    j.parse_error = fmt::format("line {}: {}", parsed.error->line, parsed.error->message);
    j.mismatch = "the simulator's history did not parse: " + *j.parse_error;
    return j;
  }
  j.report = checker::CheckHistory(*parsed.history);
  j.history = std::move(parsed.history);
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
  if (e.digest && e.digest->seed == scenario.seed &&
      e.digest->mutant == scenario.node_options.mutant && e.digest->digest != j.run.digest) {
    why.push_back(
        fmt::format("digest {} differs from the pinned {} (the run behaves differently; "
                    "if that is intended, update expect.digest)",
                    sim::DigestHex(j.run.digest), sim::DigestHex(e.digest->digest)));
  }
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
    // Operations at a node around a restart end when its connection drops or are refused
    // while it is down or catching up: [start, end) windows per node, in virtual time.
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> restarting(
        scheme.nodes().size());
    for (const sim::Fault& f : scenario.faults) {
      if (f.kind != sim::FaultKind::kRestartNode) continue;
      const std::int64_t grace = f.disk_lost ? scenario.client_timeout_ns : 0;
      restarting[f.node].emplace_back(f.at_ns - scenario.client_timeout_ns,
                                      f.at_ns + f.down_ns + grace);
    }
    auto around_restart = [&](const sim::HistoryEvent& inv) {
      for (const auto& [from, to] : restarting[inv.node]) {
        if (inv.time_ns >= from && inv.time_ns <= to) return true;
      }
      return false;
    };
    // Pair each invocation with its outcome per process.
    std::map<std::uint32_t, const sim::HistoryEvent*> outstanding;
    std::uint64_t hung = 0;
    std::string first;
    auto judge = [&](const sim::HistoryEvent& inv, bool completed_ok) {
      if (completed_ok || crashed[inv.node * scheme.tokens().size() + inv.token] ||
          around_restart(inv)) {
        return;
      }
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

checker::HtmlExtras SimReportExtras(const sim::Scenario& scenario, const Judgement& j,
                                    const std::vector<sim::MessageRecord>& messages) {
  const auto& scheme = *scenario.scheme;
  checker::HtmlExtras x;
  x.title = "tokensim " + (scenario.name.empty() ? std::string("scenario") : scenario.name);
  const token::Mutant mutant = scenario.node_options.mutant;
  x.notes.push_back(fmt::format(
      "seed {}, {}, digest {}; expectation {}", scenario.seed,
      mutant == token::Mutant::kNone ? std::string("the correct protocol")
                                     : "planted bug " + std::string(token::MutantName(mutant)),
      sim::DigestHex(j.run.digest), j.expectation_met ? "met" : "NOT met: " + j.mismatch));
  if (!scenario.description.empty()) x.notes.push_back(scenario.description);
  x.history_text = j.history_jsonl;
  x.simulated = true;
  for (const auto& n : scheme.nodes()) x.nodes.push_back(fmt::format("{}", n));
  // The history's tokens are in order of first appearance; map the scheme's onto them.
  std::vector<std::optional<std::uint32_t>> index(scheme.tokens().size());
  if (j.history) {
    x.token_nodes.resize(j.history->tokens.size());
    for (std::uint32_t h = 0; h < j.history->tokens.size(); ++h) {
      const auto t = scheme.FindToken(j.history->tokens[h].token);
      if (!t) continue;
      index[*t] = h;
      const token::TokenScheme& ts = scheme.token(*t);
      x.token_nodes[h].push_back(ts.writer);
      for (token::NodeIndex r : ts.readers) {
        if (r != ts.writer) x.token_nodes[h].push_back(r);
      }
    }
  }
  // Labels: client requests by operation kind, replies by status, node messages by type.
  constexpr std::uint32_t kKinds = 4, kTypes = 4, kRequestLabels = 0, kReplyLabels = kKinds,
                          kNodeLabels = kKinds + 2;
  for (std::uint32_t k = 0; k < kKinds; ++k) {
    x.labels.push_back(fmt::format("{} request", token::OpKindName(static_cast<token::OpKind>(k))));
  }
  x.labels.push_back("reply ok");
  x.labels.push_back("reply fail");
  for (std::uint32_t t = 0; t < kTypes; ++t) {
    x.labels.push_back(std::string(token::MessageTypeName(static_cast<token::MessageType>(t))));
  }
  // request id -> (process, invocation time): the operation the history knows it by.
  std::map<std::uint64_t, std::pair<std::uint32_t, std::int64_t>> request_op;
  for (const sim::MessageRecord& m : messages) {
    if (m.kind == sim::MessageRecord::Kind::kRequest)
      request_op[m.request_id] = {m.from, m.sent_ns};
  }
  for (const sim::MessageRecord& m : messages) {
    if (m.token >= index.size() || !index[m.token]) continue;
    checker::HtmlMessage h;
    h.token = *index[m.token];
    h.sent_ns = m.sent_ns;
    h.arrives_ns = m.arrives_ns;
    if (auto it = request_op.find(m.request_id); it != request_op.end()) h.op = it->second;
    switch (m.kind) {
      case sim::MessageRecord::Kind::kRequest:
        h.from = {false, m.from};
        h.to = {true, m.to};
        h.label = kRequestLabels + std::min<std::uint32_t>(m.type, kKinds - 1);
        break;
      case sim::MessageRecord::Kind::kReply:
        h.from = {true, m.from};
        h.to = {false, m.to};
        h.label = kReplyLabels + std::min<std::uint32_t>(m.type, 1);
        h.version = m.type == 0 ? static_cast<std::int64_t>(m.version) : -1;
        break;
      case sim::MessageRecord::Kind::kNode:
        h.from = {true, m.from};
        h.to = {true, m.to};
        h.label = kNodeLabels + std::min<std::uint32_t>(m.type, kTypes - 1);
        h.version = static_cast<std::int64_t>(m.version);
        break;
    }
    x.messages.push_back(h);
  }
  for (const sim::Fault& f : scenario.faults) {
    if (f.at_ns > j.run.stats.end_time_ns) continue;  // never happened
    checker::HtmlFault h;
    h.node = f.node;
    h.time_ns = f.at_ns;
    if (f.kind == sim::FaultKind::kCrashToken) {
      if (f.token >= index.size() || !index[f.token]) continue;
      h.token = *index[f.token];
    }
    x.faults.push_back(h);
  }
  return x;
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
      out +=
          fmt::format("  token {}: {} ({} operations, by {}{})\n", t.token,
                      checker::VerdictName(t.verdict), t.operations, checker::MethodName(t.method),
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

WrittenCase WriteCase(const sim::Scenario& scenario, const std::string& dir,
                      const std::string& stem) {
  WrittenCase written;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  written.yaml_path = fmt::format("{}/{}.yaml", dir, stem);
  std::ofstream out(written.yaml_path);
  out << sim::ScenarioToYaml(scenario);
  out.close();
  if (!out) {
    written.yaml_path.clear();
    return written;
  }
  auto replayed = sim::LoadScenarioFile(written.yaml_path);
  if (!replayed.ok()) return written;
  std::vector<sim::MessageRecord> messages;
  const Judgement j = RunAndJudge(*replayed, nullptr, &messages);
  const std::string html = fmt::format("{}/{}.html", dir, stem);
  if (j.history &&
      checker::WriteHtmlReport(html, *j.history, j.report, SimReportExtras(*replayed, j, messages))
          .ok()) {
    written.html_path = html;
  }
  return written;
}

}  // namespace tokensim
