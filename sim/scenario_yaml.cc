#include "sim/scenario_yaml.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/file.h"
#include "core/scheme_yaml_node.h"
#include "sim/simulator.h"

namespace sim {
namespace {

using token::Result;
using token::Status;

// Thrown only inside this file and caught at its entry points: it carries the line.
struct LoadError {
  int line;
  std::string message;
};

int LineOf(const YAML::Node& n) { return std::max(1, n.Mark().line + 1); }

[[noreturn]] void Fail(const YAML::Node& n, std::string msg) {
  throw LoadError{LineOf(n), std::move(msg)};
}

void CheckKeys(const YAML::Node& map, const std::string& where,
               std::initializer_list<const char*> allowed) {
  if (!map.IsMap()) Fail(map, fmt::format("{} must be a mapping", where));
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    bool ok = false;
    std::string list;
    for (const char* a : allowed) {
      ok = ok || key == a;
      list += list.empty() ? a : fmt::format(", {}", a);
    }
    if (!ok) Fail(kv.first, fmt::format("{}: unknown key '{}' (expected {})", where, key, list));
  }
}

std::string Scalar(const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) Fail(n, fmt::format("{} must be a single value", what));
  return n.Scalar();
}

std::uint64_t Unsigned(const YAML::Node& n, const std::string& what) {
  const std::string s = Scalar(n, what);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    Fail(n, fmt::format("{} must be a non-negative integer, got '{}'", what, s));
  }
  return v;
}

bool Bool(const YAML::Node& n, const std::string& what) {
  const std::string s = Scalar(n, what);
  if (s == "true") return true;
  if (s == "false") return false;
  Fail(n, fmt::format("{} must be true or false, got '{}'", what, s));
}

double Ratio(const YAML::Node& n, const std::string& what) {
  const std::string s = Scalar(n, what);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0 || v > 1) {
    Fail(n, fmt::format("{} must be a number in [0, 1], got '{}'", what, s));
  }
  return v;
}

std::int64_t Duration(const YAML::Node& n, const std::string& what) {
  auto d = ParseDuration(Scalar(n, what));
  if (!d.ok()) Fail(n, fmt::format("{}: {}", what, d.status().message()));
  return *d;
}

NodeIndex NodeOf(const token::ReplicationScheme& scheme, const YAML::Node& n,
                 const std::string& what) {
  const std::string s = Scalar(n, what);
  auto idx = scheme.FindNode(s);
  if (!idx) Fail(n, fmt::format("{}: unknown node {} (not in the scheme)", what, s));
  return *idx;
}

TokenIndex TokenOf(const token::ReplicationScheme& scheme, const YAML::Node& n,
                   const std::string& what) {
  const std::string s = Scalar(n, what);
  auto idx = scheme.FindToken(s);
  if (!idx) Fail(n, fmt::format("{}: unknown token '{}' (not in the scheme)", what, s));
  return *idx;
}

Fault ParseFault(const YAML::Node& f, const token::ReplicationScheme& sch) {
  CheckKeys(f, "fault", {"at", "crash", "token", "restart", "down", "lose_unsynced", "disk_lost"});
  Fault fault;
  if (f["at"]) fault.at_ns = Duration(f["at"], "at");
  if (f["restart"]) {
    if (f["crash"] || f["token"]) Fail(f, "a fault is either 'crash: <node>' or 'restart: <node>'");
    fault.kind = FaultKind::kRestartNode;
    fault.node = NodeOf(sch, f["restart"], "restart");
    if (!f["down"]) Fail(f, "a restart needs 'down: <duration>' (how long the node is down)");
    fault.down_ns = Duration(f["down"], "down");
    if (f["lose_unsynced"]) fault.lose_unsynced = Bool(f["lose_unsynced"], "lose_unsynced");
    if (f["disk_lost"]) fault.disk_lost = Bool(f["disk_lost"], "disk_lost");
    return fault;
  }
  if (f["down"] || f["lose_unsynced"] || f["disk_lost"]) {
    Fail(f, "'down', 'lose_unsynced' and 'disk_lost' belong to a 'restart: <node>' fault");
  }
  if (!f["crash"]) {
    Fail(f,
         "a fault needs 'crash: <node>' (and 'token' for a per-token crash) or "
         "'restart: <node>'");
  }
  fault.node = NodeOf(sch, f["crash"], "crash");
  if (f["token"]) {
    fault.kind = FaultKind::kCrashToken;
    fault.token = TokenOf(sch, f["token"], "fault token");
    if (!sch.token(fault.token).IsReplica(fault.node)) {
      Fail(f["token"], fmt::format("node {} is not a replica of token '{}'", sch.node(fault.node),
                                   sch.token(fault.token).id));
    }
  } else {
    fault.kind = FaultKind::kCrashNode;
  }
  return fault;
}

// `what`: where the delay sits (network.delay, storage.delay), for error messages.
DelayModel ParseDelay(const YAML::Node& n, const std::string& what) {
  CheckKeys(n, what, {"dist", "min", "max", "mean", "tail_permille", "tail_factor"});
  DelayModel d;
  const std::string dist = n["dist"] ? Scalar(n["dist"], what + ".dist") : "uniform";
  if (dist == "constant") {
    d.kind = DelayKind::kConstant;
  } else if (dist == "uniform") {
    d.kind = DelayKind::kUniform;
  } else if (dist == "exponential") {
    d.kind = DelayKind::kExponential;
  } else if (dist == "long_tail") {
    d.kind = DelayKind::kLongTail;
  } else {
    Fail(n["dist"], fmt::format("{}.dist: unknown distribution '{}' (expected "
                                "constant, uniform, exponential, long_tail)",
                                what, dist));
  }
  if (n["min"]) d.min_ns = Duration(n["min"], what + ".min");
  if (n["max"]) d.max_ns = Duration(n["max"], what + ".max");
  if (d.kind == DelayKind::kConstant) d.max_ns = d.min_ns;
  if (n["mean"]) d.mean_ns = Duration(n["mean"], what + ".mean");
  if (n["tail_permille"]) {
    d.tail_permille = static_cast<std::uint32_t>(Unsigned(n["tail_permille"], "tail_permille"));
    if (d.tail_permille > 1000) Fail(n["tail_permille"], "tail_permille must be at most 1000");
  }
  if (n["tail_factor"]) {
    d.tail_factor = static_cast<std::uint32_t>(Unsigned(n["tail_factor"], "tail_factor"));
  }
  if (d.max_ns < d.min_ns) Fail(n, what + ": max must be >= min");
  return d;
}

token::OpKind OpKindOf(const std::string& s, const YAML::Node& n) {
  if (s == "read") return token::OpKind::kRead;
  if (s == "write") return token::OpKind::kWrite;
  if (s == "create") return token::OpKind::kCreate;
  if (s == "drop") return token::OpKind::kDrop;
  Fail(n, fmt::format("unknown operation '{}' (expected read, write, create, drop)", s));
}

Scenario Parse(const YAML::Node& root, std::string_view source) {
  if (!root.IsMap()) Fail(root, "a scenario must be a mapping (name:, seed:, scheme:, ...)");
  CheckKeys(
      root, "scenario",
      {"name", "description", "seed", "scheme", "protocol", "host", "network", "compute", "storage",
       "clients", "workload", "operations", "faults", "schedule", "limits", "expect"});
  Scenario s;
  if (root["name"]) s.name = Scalar(root["name"], "name");
  if (root["description"]) s.description = Scalar(root["description"], "description");
  if (root["seed"]) s.seed = Unsigned(root["seed"], "seed");
  if (!root["scheme"]) Fail(root, "the scenario has no 'scheme' (the replication scheme)");
  auto scheme = token::SchemeFromYamlNode(root["scheme"], source);
  if (!scheme.ok()) {
    // The scheme loader already names the source and line.
    std::string msg = scheme.status().message();
    const std::string prefix = fmt::format("{}: line ", source);
    int line = LineOf(root["scheme"]);
    if (msg.rfind(prefix, 0) == 0) {
      line = std::atoi(msg.c_str() + prefix.size());
      msg = msg.substr(msg.find(": ", prefix.size()) + 2);
    }
    throw LoadError{line, "scheme: " + msg};
  }
  s.scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  const auto& sch = *s.scheme;

  if (const auto p = root["protocol"]) {
    CheckKeys(p, "protocol", {"fast_read", "mutant"});
    if (p["fast_read"]) s.node_options.fast_read = Bool(p["fast_read"], "protocol.fast_read");
    if (p["mutant"]) {
      const std::string name = Scalar(p["mutant"], "protocol.mutant");
      auto m = token::MutantFromName(name);
      if (!m) {
        std::string known;
        for (token::Mutant k : token::kAllMutants) {
          known += fmt::format("{}{}", known.empty() ? "" : ", ", token::MutantName(k));
        }
        Fail(p["mutant"], fmt::format("protocol.mutant: unknown planted bug '{}' (known: none, {})",
                                      name, known));
      }
      s.node_options.mutant = *m;
    }
  }
  if (const auto net = root["network"]) {
    CheckKeys(net, "network", {"delay", "links"});
    if (net["delay"]) s.delay = ParseDelay(net["delay"], "network.delay");
    if (const auto links = net["links"]) {
      if (!links.IsSequence()) Fail(links, "network.links must be a list");
      for (const auto& l : links) {
        CheckKeys(l, "network.links entry", {"from", "to", "extra", "start", "end"});
        LinkRule r;
        if (l["from"] && Scalar(l["from"], "from") != "*") r.from = NodeOf(sch, l["from"], "from");
        if (l["to"] && Scalar(l["to"], "to") != "*") r.to = NodeOf(sch, l["to"], "to");
        if (!l["extra"]) Fail(l, "a link rule needs 'extra' (the added delay)");
        r.extra_ns = Duration(l["extra"], "extra");
        if (l["start"]) r.start_ns = Duration(l["start"], "start");
        if (l["end"]) r.end_ns = Duration(l["end"], "end");
        if (r.end_ns < r.start_ns) Fail(l, "a link rule's end must not precede its start");
        s.links.push_back(r);
      }
    }
  }
  if (const auto c = root["compute"]) {
    CheckKeys(c, "compute", {"per_hash"});
    if (c["per_hash"]) s.compute_ns_per_hash = Duration(c["per_hash"], "compute.per_hash");
  }
  if (const auto st = root["storage"]) {
    CheckKeys(st, "storage", {"delay"});
    if (st["delay"]) s.storage_delay = ParseDelay(st["delay"], "storage.delay");
  }
  if (const auto h = root["host"]) {
    CheckKeys(h, "host", {"max_held_calls", "max_calls_per_token"});
    for (const auto& [key, field] : {std::pair{"max_held_calls", &s.max_held_calls},
                                     std::pair{"max_calls_per_token", &s.max_calls_per_token}}) {
      if (!h[key]) continue;
      const std::uint64_t n = Unsigned(h[key], fmt::format("host.{}", key));
      if (n > 100'000'000) Fail(h[key], fmt::format("host.{}: at most 100000000", key));
      *field = static_cast<std::size_t>(n);
    }
  }
  if (const auto c = root["clients"]) {
    CheckKeys(c, "clients", {"timeout", "retry_reads"});
    if (c["timeout"]) s.client_timeout_ns = Duration(c["timeout"], "clients.timeout");
    if (s.client_timeout_ns <= 0) Fail(c["timeout"], "clients.timeout must be positive");
    if (c["retry_reads"]) s.retry_reads = Bool(c["retry_reads"], "clients.retry_reads");
  }
  if (const auto w = root["workload"]) {
    CheckKeys(w, "workload",
              {"clients", "ops_per_client", "read_ratio", "tokens", "think_min", "think_max",
               "domain_span"});
    Workload wl;
    if (!w["clients"] || !w["ops_per_client"]) {
      Fail(w, "workload needs 'clients' and 'ops_per_client'");
    }
    wl.clients = static_cast<std::uint32_t>(Unsigned(w["clients"], "workload.clients"));
    wl.ops_per_client =
        static_cast<std::uint32_t>(Unsigned(w["ops_per_client"], "workload.ops_per_client"));
    if (wl.clients > 10000) Fail(w["clients"], "workload.clients must be at most 10000");
    if (w["read_ratio"]) {
      wl.read_permille =
          static_cast<std::uint32_t>(Ratio(w["read_ratio"], "read_ratio") * 1000 + 0.5);
    }
    if (const auto toks = w["tokens"]) {
      if (!toks.IsSequence()) Fail(toks, "workload.tokens must be a list of token ids");
      for (const auto& t : toks) wl.tokens.push_back(TokenOf(sch, t, "workload.tokens"));
    }
    if (w["think_min"]) wl.think_min_ns = Duration(w["think_min"], "think_min");
    if (w["think_max"]) wl.think_max_ns = Duration(w["think_max"], "think_max");
    if (wl.think_max_ns < wl.think_min_ns) Fail(w, "workload.think_max must be >= think_min");
    if (w["domain_span"]) wl.domain_span = Unsigned(w["domain_span"], "domain_span");
    if (wl.domain_span == 0 || wl.domain_span > 100'000'000) {
      Fail(w, "workload.domain_span must be in 1..100000000");
    }
    s.workload = wl;
  }
  if (const auto ops = root["operations"]) {
    if (!ops.IsSequence()) Fail(ops, "operations must be a list");
    for (const auto& o : ops) {
      CheckKeys(o, "operation", {"at", "process", "op", "token", "node", "value"});
      ScriptedOp op;
      if (!o["op"] || !o["token"]) Fail(o, "an operation needs 'op' and 'token'");
      op.kind = OpKindOf(Scalar(o["op"], "op"), o["op"]);
      op.token = TokenOf(sch, o["token"], "operation token");
      if (o["at"]) op.at_ns = Duration(o["at"], "at");
      if (o["process"]) {
        op.process = static_cast<std::uint32_t>(Unsigned(o["process"], "process"));
        if (op.process >= 10000) Fail(o["process"], "process must be below 10000");
      }
      if (o["node"]) op.node = NodeOf(sch, o["node"], "operation node");
      if (op.kind == token::OpKind::kWrite) {
        const auto v = o["value"];
        if (!v) Fail(o, "a write needs its 'value' {name, low, mid, high}");
        CheckKeys(v, "value", {"name", "low", "mid", "high"});
        if (!v["name"] || !v["low"] || !v["mid"] || !v["high"]) {
          Fail(v, "a value needs name, low, mid and high");
        }
        op.domain = token::Domain{Scalar(v["name"], "name"), Unsigned(v["low"], "low"),
                                  Unsigned(v["mid"], "mid"), Unsigned(v["high"], "high")};
        // A bad domain is allowed on purpose: the run shows the node's INVALID_ARGUMENT.
      } else if (o["value"]) {
        Fail(o["value"], "only writes take a value");
      }
      s.ops.push_back(op);
    }
  }
  if (const auto faults = root["faults"]) {
    if (!faults.IsSequence()) Fail(faults, "faults must be a list");
    for (const auto& f : faults) {
      s.faults.push_back(ParseFault(f, sch));
    }
  }
  if (const auto sched = root["schedule"]) {
    if (!sched.IsSequence()) Fail(sched, "schedule must be a list (it may be empty: [])");
    s.schedule.emplace();
    for (const auto& e : sched) {
      CheckKeys(e, "schedule entry", {"at", "deliver", "compute", "sync", "give_up", "n"});
      ScheduleStep step;
      if (!e["at"] || !e["n"]) Fail(e, "a schedule entry needs 'at' and 'n'");
      step.at_ns = Duration(e["at"], "at");
      step.n = Unsigned(e["n"], "n");
      if (step.n == 0) Fail(e["n"], "n counts from 1");
      int kinds = 0;
      for (const auto& [key, kind] : {std::pair{"deliver", ScheduleStep::Kind::kDeliver},
                                      std::pair{"compute", ScheduleStep::Kind::kCompute},
                                      std::pair{"sync", ScheduleStep::Kind::kSync}}) {
        if (!e[key]) continue;
        ++kinds;
        step.kind = kind;
        step.who = NodeOf(sch, e[key], key);
      }
      if (e["give_up"]) {
        ++kinds;
        step.kind = ScheduleStep::Kind::kGiveUp;
        step.who = static_cast<std::uint32_t>(Unsigned(e["give_up"], "give_up"));
        if (step.who >= 10000) Fail(e["give_up"], "give_up: a process below 10000");
      }
      if (kinds != 1) {
        Fail(e,
             "a schedule entry is one of 'deliver: <node>', 'compute: <node>', "
             "'sync: <node>' or 'give_up: <process>'");
      }
      s.schedule->push_back(step);
    }
  }
  if (const auto l = root["limits"]) {
    CheckKeys(l, "limits", {"max_time", "max_events"});
    if (l["max_time"]) s.max_time_ns = Duration(l["max_time"], "limits.max_time");
    if (l["max_events"]) s.max_events = Unsigned(l["max_events"], "limits.max_events");
  }
  if (const auto e = root["expect"]) {
    CheckKeys(e, "expect", {"verdict", "all_complete", "min_ok", "max_ok", "liveness", "digest"});
    if (e["digest"]) {
      const std::string d = Scalar(e["digest"], "expect.digest");
      std::uint64_t v = 0;
      const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v, 16);
      if (d.size() != 16 || ec != std::errc() || end != d.data() + d.size()) {
        Fail(e["digest"], fmt::format("expect.digest: '{}' is not 16 hex digits", d));
      }
      s.expect.digest = Expectation::PinnedDigest{v, 0, token::Mutant::kNone};
    }
    if (e["liveness"]) s.expect.liveness = Bool(e["liveness"], "expect.liveness");
    if (e["verdict"]) {
      const std::string v = Scalar(e["verdict"], "expect.verdict");
      if (v == "linearizable") {
        s.expect.verdict = ExpectVerdict::kLinearizable;
      } else if (v == "violation") {
        s.expect.verdict = ExpectVerdict::kViolation;
      } else if (v == "any") {
        s.expect.verdict = ExpectVerdict::kAny;
      } else {
        Fail(e["verdict"], fmt::format("expect.verdict: '{}' (expected linearizable, violation, "
                                       "any)",
                                       v));
      }
    }
    if (e["all_complete"]) s.expect.all_complete = Bool(e["all_complete"], "all_complete");
    if (e["min_ok"]) s.expect.min_ok = Unsigned(e["min_ok"], "min_ok");
    if (e["max_ok"]) s.expect.max_ok = Unsigned(e["max_ok"], "max_ok");
  }
  if (!s.workload && s.ops.empty()) {
    Fail(root, "the scenario has no clients: give 'workload' or 'operations'");
  }
  if (s.schedule && s.workload) {
    Fail(root["schedule"], "a scheduled scenario runs scripted 'operations' only, no 'workload'");
  }
  if (s.expect.digest) {
    // Pinned for the file's own seed and protocol.
    s.expect.digest->seed = s.seed;
    s.expect.digest->mutant = s.node_options.mutant;
  }
  return s;
}

}  // namespace

Result<std::int64_t> ParseDuration(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value < 0) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a duration (like 250us, 5ms, 60s)", text));
  }
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::int64_t scale = 0;
  if (unit == "ns") {
    scale = 1;
  } else if (unit == "us") {
    scale = 1'000;
  } else if (unit == "ms") {
    scale = 1'000'000;
  } else if (unit == "s") {
    scale = 1'000'000'000;
  } else if (unit == "m") {
    scale = 60'000'000'000;
  } else if (unit.empty() && value == 0) {
    scale = 1;
  } else {
    return Status::InvalidArgument(
        fmt::format("'{}' needs a unit: ns, us, ms, s or m (like 250us)", text));
  }
  if (value > std::numeric_limits<std::int64_t>::max() / scale) {
    return Status::InvalidArgument(fmt::format("duration '{}' is too large", text));
  }
  return value * scale;
}

std::string FormatDuration(std::int64_t ns) {
  if (ns == 0) return "0";
  if (ns % 1'000'000'000 == 0) return fmt::format("{}s", ns / 1'000'000'000);
  if (ns % 1'000'000 == 0) return fmt::format("{}ms", ns / 1'000'000);
  if (ns % 1'000 == 0) return fmt::format("{}us", ns / 1'000);
  return fmt::format("{}ns", ns);
}

Result<Scenario> ParseScenarioYaml(std::string_view text, std::string_view source) {
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return Parse(root, source);
  } catch (const LoadError& e) {
    return Status::InvalidArgument(fmt::format("{}: line {}: {}", source, e.line, e.message));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(
        fmt::format("{}: line {}: not valid YAML: {}", source, e.mark.line + 1, e.msg));
  }
}

Result<Scenario> LoadScenarioFile(const std::string& path) {
  auto text = token::ReadFile(path, "scenario file");
  if (!text.ok()) return text.status();
  return ParseScenarioYaml(*text, path);
}

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
  if (s.workload) {
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
    out << YAML::EndMap;
  }
  if (!s.ops.empty()) {
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
  if (!s.faults.empty()) {
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
  if (s.schedule) {
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
