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

// protocol: the options of every node (fast_read, a planted bug).
void ParseProtocol(const YAML::Node& p, token::NodeOptions* options) {
  CheckKeys(p, "protocol", {"fast_read", "mutant"});
  if (p["fast_read"]) options->fast_read = Bool(p["fast_read"], "protocol.fast_read");
  if (p["mutant"]) {
    const std::string name = Scalar(p["mutant"], "protocol.mutant");
    auto m = token::MutantFromName(name);
    if (!m) {
      std::string known;
      for (token::Mutant k : token::kAllMutants) {
        known += fmt::format("{}{}", known.empty() ? "" : ", ", token::MutantName(k));
      }
      Fail(p["mutant"],
           fmt::format("protocol.mutant: unknown planted bug '{}' (known: none, {})", name, known));
    }
    options->mutant = *m;
  }
}

LinkRule ParseLinkRule(const YAML::Node& l, const token::ReplicationScheme& sch) {
  CheckKeys(l, "network.links entry", {"from", "to", "extra", "start", "end"});
  LinkRule r;
  if (l["from"] && Scalar(l["from"], "from") != "*") r.from = NodeOf(sch, l["from"], "from");
  if (l["to"] && Scalar(l["to"], "to") != "*") r.to = NodeOf(sch, l["to"], "to");
  if (!l["extra"]) Fail(l, "a link rule needs 'extra' (the added delay)");
  r.extra_ns = Duration(l["extra"], "extra");
  if (l["start"]) r.start_ns = Duration(l["start"], "start");
  if (l["end"]) r.end_ns = Duration(l["end"], "end");
  if (r.end_ns < r.start_ns) Fail(l, "a link rule's end must not precede its start");
  return r;
}

Workload ParseWorkload(const YAML::Node& w, const token::ReplicationScheme& sch) {
  CheckKeys(w, "workload",
            {"clients", "ops_per_client", "read_ratio", "tokens", "think_min", "think_max",
             "domain_span", "create_drop_ratio"});
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
  if (w["create_drop_ratio"]) {
    wl.create_drop_permille =
        static_cast<std::uint32_t>(Ratio(w["create_drop_ratio"], "create_drop_ratio") * 1000 + 0.5);
  }
  return wl;
}

ScriptedOp ParseOperation(const YAML::Node& o, const token::ReplicationScheme& sch) {
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
  return op;
}

ScheduleStep ParseScheduleStep(const YAML::Node& e, const token::ReplicationScheme& sch) {
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
  return step;
}

// expect: what the run must show (Parse pins a digest to the file's seed and protocol).
void ParseExpect(const YAML::Node& e, Expectation* expect) {
  CheckKeys(e, "expect", {"verdict", "all_complete", "min_ok", "max_ok", "liveness", "digest"});
  if (e["digest"]) {
    const std::string d = Scalar(e["digest"], "expect.digest");
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v, 16);
    if (d.size() != 16 || ec != std::errc() || end != d.data() + d.size()) {
      Fail(e["digest"], fmt::format("expect.digest: '{}' is not 16 hex digits", d));
    }
    expect->digest = Expectation::PinnedDigest{v, 0, token::Mutant::kNone};
  }
  if (e["liveness"]) expect->liveness = Bool(e["liveness"], "expect.liveness");
  if (e["verdict"]) {
    const std::string v = Scalar(e["verdict"], "expect.verdict");
    if (v == "linearizable") {
      expect->verdict = ExpectVerdict::kLinearizable;
    } else if (v == "violation") {
      expect->verdict = ExpectVerdict::kViolation;
    } else if (v == "any") {
      expect->verdict = ExpectVerdict::kAny;
    } else {
      Fail(e["verdict"], fmt::format("expect.verdict: '{}' (expected linearizable, violation, "
                                     "any)",
                                     v));
    }
  }
  if (e["all_complete"]) expect->all_complete = Bool(e["all_complete"], "all_complete");
  if (e["min_ok"]) expect->min_ok = Unsigned(e["min_ok"], "min_ok");
  if (e["max_ok"]) expect->max_ok = Unsigned(e["max_ok"], "max_ok");
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

  if (const auto p = root["protocol"]) ParseProtocol(p, &s.node_options);
  if (const auto net = root["network"]) {
    CheckKeys(net, "network", {"delay", "links"});
    if (net["delay"]) s.delay = ParseDelay(net["delay"], "network.delay");
    if (const auto links = net["links"]) {
      if (!links.IsSequence()) Fail(links, "network.links must be a list");
      for (const auto& l : links) {
        s.links.push_back(ParseLinkRule(l, sch));
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
  if (const auto w = root["workload"]) s.workload = ParseWorkload(w, sch);
  if (const auto ops = root["operations"]) {
    if (!ops.IsSequence()) Fail(ops, "operations must be a list");
    for (const auto& o : ops) {
      s.ops.push_back(ParseOperation(o, sch));
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
      s.schedule->push_back(ParseScheduleStep(e, sch));
    }
  }
  if (const auto l = root["limits"]) {
    CheckKeys(l, "limits", {"max_time", "max_events"});
    if (l["max_time"]) s.max_time_ns = Duration(l["max_time"], "limits.max_time");
    if (l["max_events"]) s.max_events = Unsigned(l["max_events"], "limits.max_events");
  }
  if (const auto e = root["expect"]) ParseExpect(e, &s.expect);
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

}  // namespace sim
