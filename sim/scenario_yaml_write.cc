// Scenario files out (sim/scenario_yaml.h): a scenario as YAML that loads back to the same
// scenario.
#include <yaml-cpp/yaml.h>

#include <string>

#include <fmt/format.h>

#include "sim/scenario_yaml.h"
#include "sim/simulator.h"

namespace sim {
namespace {

void WriteDelay(YAML::Emitter& out, const DelayModel& d) {
  static constexpr const char* kDist[] = {"constant", "uniform", "exponential", "long_tail"};
  out << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "dist" << YAML::Value << kDist[static_cast<int>(d.kind)];
  out << YAML::Key << "min" << YAML::Value << FormatDuration(d.min_ns);
  out << YAML::Key << "max" << YAML::Value << FormatDuration(d.max_ns);
  out << YAML::Key << "mean" << YAML::Value << FormatDuration(d.mean_ns);
  out << YAML::Key << "tail_permille" << YAML::Value << d.tail_permille;
  out << YAML::Key << "tail_factor" << YAML::Value << d.tail_factor;
  out << YAML::EndMap;
}

// network: the delay model and the link rules.
void WriteNetwork(YAML::Emitter& out, const Scenario& s) {
  const auto& sch = *s.scheme;
  out << YAML::Key << "network" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "delay" << YAML::Value;
  WriteDelay(out, s.delay);
  if (!s.links.empty()) {
    out << YAML::Key << "links" << YAML::Value << YAML::BeginSeq;
    for (const LinkRule& l : s.links) {
      out << YAML::Flow << YAML::BeginMap;
      if (l.from) out << YAML::Key << "from" << YAML::Value << sch.node(*l.from);
      if (l.to) out << YAML::Key << "to" << YAML::Value << sch.node(*l.to);
      out << YAML::Key << "extra" << YAML::Value << FormatDuration(l.extra_ns);
      if (l.start_ns) out << YAML::Key << "start" << YAML::Value << FormatDuration(l.start_ns);
      if (l.end_ns != kForever)
        out << YAML::Key << "end" << YAML::Value << FormatDuration(l.end_ns);
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
}

void WriteWorkload(YAML::Emitter& out, const Scenario& s) {
  const auto& sch = *s.scheme;
  const Workload& w = *s.workload;
  out << YAML::Key << "workload" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "clients" << YAML::Value << w.clients;
  out << YAML::Key << "ops_per_client" << YAML::Value << w.ops_per_client;
  out << YAML::Key << "read_ratio" << YAML::Value
      << fmt::format("{:.3f}", w.read_permille / 1000.0);
  if (!w.tokens.empty()) {
    out << YAML::Key << "tokens" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (TokenIndex t : w.tokens) out << YAML::DoubleQuoted << sch.token(t).id;
    out << YAML::EndSeq;
  }
  out << YAML::Key << "think_min" << YAML::Value << FormatDuration(w.think_min_ns);
  out << YAML::Key << "think_max" << YAML::Value << FormatDuration(w.think_max_ns);
  out << YAML::Key << "domain_span" << YAML::Value << w.domain_span;
  if (w.create_drop_permille > 0) {
    out << YAML::Key << "create_drop_ratio" << YAML::Value
        << fmt::format("{:.3f}", w.create_drop_permille / 1000.0);
  }
  out << YAML::EndMap;
}

void WriteOperations(YAML::Emitter& out, const Scenario& s) {
  const auto& sch = *s.scheme;
  out << YAML::Key << "operations" << YAML::Value << YAML::BeginSeq;
  for (const ScriptedOp& o : s.ops) {
    out << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "at" << YAML::Value << FormatDuration(o.at_ns);
    out << YAML::Key << "process" << YAML::Value << o.process;
    out << YAML::Key << "op" << YAML::Value << std::string(token::OpKindName(o.kind));
    out << YAML::Key << "token" << YAML::Value << YAML::DoubleQuoted << sch.token(o.token).id;
    if (o.node) out << YAML::Key << "node" << YAML::Value << sch.node(*o.node);
    if (o.kind == token::OpKind::kWrite) {
      out << YAML::Key << "value" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << o.domain.name;
      out << YAML::Key << "low" << YAML::Value << o.domain.low;
      out << YAML::Key << "mid" << YAML::Value << o.domain.mid;
      out << YAML::Key << "high" << YAML::Value << o.domain.high;
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

void WriteFaults(YAML::Emitter& out, const Scenario& s) {
  const auto& sch = *s.scheme;
  out << YAML::Key << "faults" << YAML::Value << YAML::BeginSeq;
  for (const Fault& f : s.faults) {
    out << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "at" << YAML::Value << FormatDuration(f.at_ns);
    if (f.kind == FaultKind::kRestartNode) {
      out << YAML::Key << "restart" << YAML::Value << sch.node(f.node);
      out << YAML::Key << "down" << YAML::Value << FormatDuration(f.down_ns);
      if (f.lose_unsynced) out << YAML::Key << "lose_unsynced" << YAML::Value << true;
      if (f.disk_lost) out << YAML::Key << "disk_lost" << YAML::Value << true;
      out << YAML::EndMap;
      continue;
    }
    out << YAML::Key << "crash" << YAML::Value << sch.node(f.node);
    if (f.kind == FaultKind::kCrashToken) {
      out << YAML::Key << "token" << YAML::Value << YAML::DoubleQuoted << sch.token(f.token).id;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

void WriteSchedule(YAML::Emitter& out, const Scenario& s) {
  const auto& sch = *s.scheme;
  static constexpr const char* kStep[] = {"deliver", "compute", "sync", "give_up"};
  out << YAML::Key << "schedule" << YAML::Value << YAML::BeginSeq;
  for (const ScheduleStep& e : *s.schedule) {
    out << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "at" << YAML::Value << FormatDuration(e.at_ns);
    out << YAML::Key << kStep[static_cast<int>(e.kind)] << YAML::Value;
    if (e.kind == ScheduleStep::Kind::kGiveUp) {
      out << e.who;
    } else {
      out << sch.node(e.who);
    }
    out << YAML::Key << "n" << YAML::Value << e.n;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

}  // namespace

std::string ScenarioToYaml(const Scenario& s) {
  const auto& sch = *s.scheme;
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (!s.name.empty()) out << YAML::Key << "name" << YAML::Value << s.name;
  if (!s.description.empty()) out << YAML::Key << "description" << YAML::Value << s.description;
  out << YAML::Key << "seed" << YAML::Value << s.seed;
  out << YAML::Key << "scheme" << YAML::Value << YAML::BeginSeq;
  for (const auto& t : sch.tokens()) {
    out << YAML::BeginMap << YAML::Key << "token" << YAML::Value << YAML::DoubleQuoted << t.id;
    out << YAML::Key << "writer" << YAML::Value << sch.node(t.writer);
    out << YAML::Key << "readers" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (NodeIndex r : t.readers) out << sch.node(r);
    out << YAML::EndSeq << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "protocol" << YAML::Value << YAML::BeginMap << YAML::Key << "fast_read"
      << YAML::Value << s.node_options.fast_read;
  if (s.node_options.mutant != token::Mutant::kNone) {
    out << YAML::Key << "mutant" << YAML::Value
        << std::string(token::MutantName(s.node_options.mutant));
  }
  out << YAML::EndMap;

  WriteNetwork(out, s);
  out << YAML::Key << "compute" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
      << "per_hash" << YAML::Value << FormatDuration(s.compute_ns_per_hash) << YAML::EndMap;
  out << YAML::Key << "storage" << YAML::Value << YAML::BeginMap << YAML::Key << "delay"
      << YAML::Value;
  WriteDelay(out, s.storage_delay);
  out << YAML::EndMap;
  const bool held_set = s.max_held_calls != Scenario{}.max_held_calls;
  const bool per_token_set = s.max_calls_per_token != Scenario{}.max_calls_per_token;
  if (held_set || per_token_set) {
    out << YAML::Key << "host" << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (held_set) out << YAML::Key << "max_held_calls" << YAML::Value << s.max_held_calls;
    if (per_token_set) {
      out << YAML::Key << "max_calls_per_token" << YAML::Value << s.max_calls_per_token;
    }
    out << YAML::EndMap;
  }
  out << YAML::Key << "clients" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
      << "timeout" << YAML::Value << FormatDuration(s.client_timeout_ns) << YAML::Key
      << "retry_reads" << YAML::Value << s.retry_reads << YAML::EndMap;
  if (s.workload) WriteWorkload(out, s);
  if (!s.ops.empty()) WriteOperations(out, s);
  if (!s.faults.empty()) WriteFaults(out, s);
  if (s.schedule) WriteSchedule(out, s);
  out << YAML::Key << "limits" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
      << "max_time" << YAML::Value << FormatDuration(s.max_time_ns) << YAML::Key << "max_events"
      << YAML::Value << s.max_events << YAML::EndMap;
  static constexpr const char* kVerdict[] = {"linearizable", "violation", "any"};
  out << YAML::Key << "expect" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "verdict" << YAML::Value << kVerdict[static_cast<int>(s.expect.verdict)];
  out << YAML::Key << "all_complete" << YAML::Value << s.expect.all_complete;
  if (s.expect.liveness) out << YAML::Key << "liveness" << YAML::Value << true;
  if (s.expect.min_ok) out << YAML::Key << "min_ok" << YAML::Value << *s.expect.min_ok;
  if (s.expect.max_ok) out << YAML::Key << "max_ok" << YAML::Value << *s.expect.max_ok;
  if (s.expect.digest) {
    out << YAML::Key << "digest" << YAML::Value << YAML::DoubleQuoted
        << DigestHex(s.expect.digest->digest);
  }
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace sim
