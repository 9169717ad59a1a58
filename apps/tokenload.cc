// tokenload: closed-loop load against a live cluster, with faults, a recorded history and
// the checker's verdict.
//
//   tokenload --config FILE --clients N --ops M --read-ratio R [--crash NODE:TOKEN@MS ...]
//             [--history FILE] [--html FILE] [--final-reads] [--timeout-ms MS] [--domain N]
//             [--seed S]
//   tokenload --etcd HOST:PORT[,HOST:PORT...] --tokens ID,... --clients N --ops M ...
//
// First it reads each token once: a value already there (from an earlier run) goes into the
// history as a write of it that ends before the load. Each client is a process of the
// history (FORMATS.md): it has one operation outstanding, writes distinct values (name
// "r<run tag>-p<process>-<n>"), sends writes to the token's writer and reads to a random
// reader. A write that ends without a clear answer (timeout,
// lost connection) is recorded as `info` and the client continues as a new process, as Jepsen does.
// With --etcd the same load runs against an etcd cluster (put and linearizable get of one key per
// token), for comparison. Prints throughput, p50/p99 latency per operation type and the checker's
// verdict. Exit: 0 linearizable, 1 violation, 2 bad input, a token no reader answered for before
// the load, or no decision.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <absl/synchronization/mutex.h>
#include <fmt/format.h>

#include "apps/tokenload_load.h"
#include "checker/history.h"
#include "checker/history_writer.h"
#include "checker/html_report.h"
#include "checker/json_escape.h"
#include "checker/linearizability.h"
#include "checker/report.h"
#include "core/address.h"
#include "core/scheme_yaml.h"
#include "harness/cli.h"

namespace {

// The load itself: its clients, crashes and recorded history (apps/tokenload_load.h).
using tokenload::Clock;
using tokenload::Crash;
using tokenload::Load;
using tokenload::OpStats;

// REQUIRES: `v` sorted.
std::string Percentile(const std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return "-";
  const std::size_t i =
      std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  return fmt::format("{:.2f} ms", static_cast<double>(v[i]) / 1e6);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "tokenload: %s\n(tokenload --help for usage)\n", message.c_str());
  return 2;
}

using token::Result;
using token::Status;

struct Flags {
  std::string config, etcd, tokens, history, html;
  std::vector<std::string> crash;
  std::uint64_t clients = 16, ops = 10000, timeout_ms = 2000, domain = 16, channels = 2,
                seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  double read_ratio = 0.5;
  bool final_reads = false, quiet = false, json = false;
};

void Define(CLI::App& app, Flags& f) {
  tokenapp::cli::Configure(
      app, "tokenload",
      "Closed-loop load against a live cluster (--config) or etcd (--etcd, for comparison), "
      "with token crashes on schedule; records the history and prints throughput, p50/p99 "
      "latency per operation type and the checker's verdict. It reads each token first: a "
      "value already there (an earlier run's) enters the history as written before the load.",
      "0 linearizable, 1 violation, 2 bad input or the checker could not decide");
  auto* config =
      app.add_option("--config", f.config, "the token cluster's scheme")->type_name("FILE");
  app.add_option("--etcd", f.etcd, "load an etcd cluster instead")
      ->type_name("HOST:PORT[,...]")
      ->excludes(config);
  app.add_option("--tokens", f.tokens, "tokens to load (default: every token of the scheme)")
      ->type_name("ID,...");
  tokenapp::cli::AddNumber(app, "--clients", &f.clients, 1, 10'000, "closed-loop clients");
  tokenapp::cli::AddNumber(app, "--ops", &f.ops, 0, 100'000'000, "operations in total");
  tokenapp::cli::AddReal(app, "--read-ratio", &f.read_ratio, 0, 1, "fraction of reads");
  app.add_option("--crash", f.crash,
                 "crash-stop TOKEN at NODE MS milliseconds into the run (repeatable)")
      ->type_name("NODE:TOKEN@MS")
      ->take_all()
      ->allow_extra_args(false);
  app.add_option("--history", f.history, "write the recorded history (JSON Lines)")
      ->type_name("FILE");
  app.add_option("--html", f.html,
                 "write the history's timeline with the crashes marked and any violation "
                 "highlighted (one self-contained HTML page)")
      ->type_name("FILE");
  app.add_flag("--final-reads", f.final_reads,
               "after the load, read every token once at each of its readers");
  tokenapp::cli::AddNumber(app, "--timeout-ms", &f.timeout_ms, 1, 3'600'000,
                           "deadline of each operation");
  tokenapp::cli::AddNumber(app, "--domain", &f.domain, 2, 1'000'000'000,
                           "write domains [0, N/2, N) (small domains by default)");
  tokenapp::cli::AddNumber(app, "--channels", &f.channels, 1, 64, "connections per node");
  tokenapp::cli::AddNumber(app, "--seed", &f.seed, 0, UINT64_MAX,
                           "seed of the clients' choices (default: from the clock)")
      ->default_str("clock");
  app.add_flag("--quiet", f.quiet, "only the summary");
  tokenapp::cli::AddJson(app, &f.json)
      ->description(
          "print the summary as one JSON object (throughput, latencies, crashes, "
          "the checker's report) instead of text");
}

// --crash NODE:TOKEN@MS, repeatable, in time order. NODE is IP:PORT (the token is what
// follows the node's port); both must be in the scheme.
Result<std::vector<Crash>> ParseCrashes(const Flags& flags,
                                        const token::ReplicationScheme* scheme) {
  std::vector<Crash> crashes;
  for (const std::string& spec : flags.crash) {
    const auto at = spec.rfind('@');
    const auto port_colon = spec.find(':');
    const auto token_colon =
        port_colon == std::string::npos ? std::string::npos : spec.find(':', port_colon + 1);
    if (at == std::string::npos || token_colon == std::string::npos || token_colon > at) {
      return Status::InvalidArgument(
          fmt::format("--crash '{}': expected NODE:TOKEN@MS, e.g. 127.0.0.1:50053:1@500", spec));
    }
    Crash c;
    c.node = spec.substr(0, token_colon);
    c.token = spec.substr(token_colon + 1, at - token_colon - 1);
    const auto ms = tokenapp::ParseUnsigned(spec.substr(at + 1));
    if (!ms || *ms > 86'400'000) {
      return Status::InvalidArgument(
          fmt::format("--crash '{}': the time must be 0..86400000 ms", spec));
    }
    c.at_ms = static_cast<std::int64_t>(*ms);
    if (!scheme) return Status::InvalidArgument("--crash applies to token clusters only");
    if (!scheme->FindNode(c.node)) {
      return Status::InvalidArgument(
          fmt::format("--crash: {} is not a node of the scheme", c.node));
    }
    if (!scheme->FindToken(c.token)) {
      return Status::InvalidArgument(
          fmt::format("--crash: '{}' is not a token of the scheme", c.token));
    }
    crashes.push_back(c);
  }
  std::sort(crashes.begin(), crashes.end(),
            [](const Crash& a, const Crash& b) { return a.at_ms < b.at_ms; });
  return crashes;
}

// The target (--config's scheme or --etcd's endpoints) and the tokens to load.
Status ParseTarget(const Flags& flags, Load::Options* o) {
  if (!flags.config.empty()) {
    auto scheme = token::LoadSchemeFile(flags.config);
    if (!scheme.ok()) return scheme.status();
    o->scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  } else if (!flags.etcd.empty()) {
    o->etcd = Split(flags.etcd);
    if (o->etcd.empty()) return Status::InvalidArgument("--etcd needs at least one endpoint");
    for (const std::string& endpoint : o->etcd) {
      if (auto a = token::ParseServerAddress(endpoint); !a.ok()) {
        return Status::InvalidArgument(fmt::format("--etcd: {}", a.status().message()));
      }
    }
  } else {
    return Status::InvalidArgument("--config FILE (or --etcd ENDPOINTS) is required");
  }
  if (!flags.tokens.empty()) {
    o->tokens = Split(flags.tokens);
    for (const std::string& t : o->tokens) {
      if (o->scheme && !o->scheme->FindToken(t)) {
        return Status::InvalidArgument(
            fmt::format("--tokens: '{}' is not a token of the scheme", t));
      }
    }
  } else if (o->scheme) {
    for (const auto& t : o->scheme->tokens()) o->tokens.push_back(t.id);
  }
  if (o->tokens.empty()) return Status::InvalidArgument("no tokens to load (--tokens ID,...)");
  return Status::Ok();
}

Result<Load::Options> ParseOptions(const Flags& flags) {
  Load::Options o;
  if (Status st = ParseTarget(flags, &o); !st.ok()) return st;
  o.clients = static_cast<int>(flags.clients);
  o.ops = static_cast<std::int64_t>(flags.ops);
  o.read_ratio = flags.read_ratio;
  o.timeout = std::chrono::milliseconds(flags.timeout_ms);
  o.domain = flags.domain;
  o.channels = static_cast<int>(flags.channels);
  o.seed = flags.seed;
  o.final_reads = flags.final_reads;
  o.quiet = flags.quiet || flags.json;
  auto crashes = ParseCrashes(flags, o.scheme.get());
  if (!crashes.ok()) return crashes.status();
  o.crashes = std::move(crashes).value();
  return o;
}

void PrintStats(const Load& load, const std::string& target, int clients) {
  std::uint64_t total_ok = 0;
  for (const auto& [f, s] : load.stats()) total_ok += s.ok;
  std::printf("tokenload: %s, %d clients, %llu ok operations in %.2f s: %.0f ops/s\n",
              target.c_str(), clients, static_cast<unsigned long long>(total_ok), load.seconds(),
              static_cast<double>(total_ok) / load.seconds());
  for (const auto& [f, s] : load.stats()) {
    std::vector<std::int64_t> latency_ns = s.latency_ns;
    std::sort(latency_ns.begin(), latency_ns.end());
    std::printf("  %-5s %7llu ok %5llu fail %5llu info   p50 %s  p99 %s\n", f.c_str(),
                static_cast<unsigned long long>(s.ok), static_cast<unsigned long long>(s.fail),
                static_cast<unsigned long long>(s.info), Percentile(latency_ns, 0.50).c_str(),
                Percentile(latency_ns, 0.99).c_str());
  }
  for (const Crash& c : load.crashes()) {
    std::printf("  crash token %s at %s (planned %lld ms): %s\n", c.token.c_str(), c.node.c_str(),
                static_cast<long long>(c.at_ms), c.outcome.c_str());
  }
}

// Line `line` (1-based) of `text`, cut at 300 characters.
std::string_view LineOf(std::string_view text, std::uint64_t line) {
  for (std::uint64_t n = 1; n < line; ++n) {
    const auto nl = text.find('\n');
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return text.substr(0, std::min<std::size_t>(text.find('\n'), 300));
}

// What the HTML report shows beyond the history: for a token cluster, its nodes, and a lane
// and a mark for each crash the node confirmed.
checker::HtmlExtras ReportExtras(const Flags& flags, const std::string& target,
                                 const std::string& history, const checker::History& h,
                                 const token::ReplicationScheme* scheme,
                                 const std::vector<Crash>& crashes) {
  checker::HtmlExtras extras;
  extras.title = "tokenload " + target;
  extras.source = flags.config.empty() ? flags.etcd : flags.config;
  extras.history_text = history;
  if (!scheme) return extras;
  auto history_token = [&](const std::string& id) -> std::optional<std::uint32_t> {
    for (std::uint32_t i = 0; i < h.tokens.size(); ++i) {
      if (h.tokens[i].token == id) return i;
    }
    return std::nullopt;
  };
  for (const auto& n : scheme->nodes()) extras.nodes.push_back(fmt::format("{}", n));
  extras.token_nodes.resize(h.tokens.size());
  // Lanes for the nodes that crashed for a token (the others have nothing to show).
  for (const Crash& c : crashes) {
    const auto t = history_token(c.token);
    const auto n = scheme->FindNode(c.node);
    if (!t || !n || c.done_ns < 0) continue;
    extras.token_nodes[*t].push_back(*n);
    extras.faults.push_back(checker::HtmlFault{*n, *t, c.done_ns});
  }
  return extras;
}

// The run's summary as one JSON object (--json).
std::string StatsJson(const Load& load, const std::string& target, int clients,
                      const checker::Report& report, const std::string& html) {
  std::uint64_t total_ok = 0;
  std::string ops;
  for (const auto& [f, s] : load.stats()) {
    total_ok += s.ok;
    std::vector<std::int64_t> latency_ns = s.latency_ns;
    std::sort(latency_ns.begin(), latency_ns.end());
    auto ms = [&latency_ns](double p) -> std::string {
      if (latency_ns.empty()) return "null";
      const std::size_t i =
          std::min(latency_ns.size() - 1,
                   static_cast<std::size_t>(p * static_cast<double>(latency_ns.size())));
      return fmt::format("{:.3f}", static_cast<double>(latency_ns[i]) / 1e6);
    };
    if (!ops.empty()) ops += ",";
    ops += fmt::format(R"({}:{{"ok":{},"fail":{},"info":{},"p50_ms":{},"p99_ms":{}}})",
                       checker::JsonQuote(f), s.ok, s.fail, s.info, ms(0.50), ms(0.99));
  }
  std::string crashes;
  for (const Crash& c : load.crashes()) {
    if (!crashes.empty()) crashes += ",";
    crashes += fmt::format(R"({{"node":{},"token":{},"planned_ms":{},"outcome":{}}})",
                           checker::JsonQuote(c.node), checker::JsonQuote(c.token), c.at_ms,
                           checker::JsonQuote(c.outcome));
  }
  return fmt::format(
      R"({{"target":"{}","clients":{},"ok_operations":{},"seconds":{:.3f},"ops_per_s":{:.1f},"operations":{{{}}},"crashes":[{}],"check":{}{}}})",
      target, clients, total_ok, load.seconds(), static_cast<double>(total_ok) / load.seconds(),
      ops, crashes, checker::FormatReportJson(report),
      html.empty() ? "" : fmt::format(R"(,"report":{})", checker::JsonQuote(html)));
}

// Checks the recorded history, prints the verdict, writes the report (--html); the exit code.
int CheckAndReport(const Flags& flags, const std::string& target, const std::string& history,
                   const Load& load, const token::ReplicationScheme* scheme, bool quiet) {
  checker::ParseResult parsed_history = checker::ParseHistoryString(history);
  if (!parsed_history.history) {
    // Name the line itself: a history this tool wrote that does not parse is its own bug.
    const std::string_view text = LineOf(history, parsed_history.error->line);
    std::fprintf(stderr, "tokenload: the recorded history does not parse (line %llu: %s): %.*s\n",
                 static_cast<unsigned long long>(parsed_history.error->line),
                 parsed_history.error->message.c_str(), static_cast<int>(text.size()), text.data());
    return 2;
  }
  const checker::Report report = checker::CheckHistory(*parsed_history.history);
  const std::string text = checker::FormatReportText(report);
  if (flags.json) {
    // printed below, once the report is written
  } else if (quiet) {
    std::printf("checker: %s (%zu operations)\n", checker::VerdictName(report.overall),
                report.operations);
  } else {
    std::printf("checker: %s", text.c_str());
    if (!text.empty() && text.back() != '\n') std::printf("\n");
  }
  if (!flags.html.empty()) {
    const checker::History& h = *parsed_history.history;
    const checker::HtmlExtras extras =
        ReportExtras(flags, target, history, h, scheme, load.crashes());
    if (const token::Status written = checker::WriteHtmlReport(flags.html, h, report, extras);
        !written.ok()) {
      std::fprintf(stderr, "tokenload: %s\n", written.message().c_str());
      return 2;
    }
    if (!flags.json) std::printf("report %s\n", flags.html.c_str());
  }
  if (flags.json) {
    std::printf(
        "%s\n",
        StatsJson(load, target, static_cast<int>(flags.clients), report, flags.html).c_str());
  }
  return checker::ExitCodeOf(report);
}

}  // namespace

int main(int argc, char** argv) {
  // As tokenserver does (apps/tokenserver.cc): Debian's Abseil checks lock order on every
  // absl::Mutex in gRPC, 1% of the machine's CPU under a 64-client load (perf record).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app;
  Flags flags;
  Define(app, flags);
  if (auto code = tokenapp::cli::Parse(app, argc, argv)) return *code;
  auto options = ParseOptions(flags);
  if (!options.ok()) return Fail(options.status().message());
  Load::Options o = std::move(options).value();
  const std::string target = o.scheme ? "token cluster" : "etcd";
  const auto n_clients = o.clients;
  const bool quiet = o.quiet;
  const std::shared_ptr<const token::ReplicationScheme> scheme = o.scheme;

  Load load(std::move(o));
  load.Run();
  const std::string history = load.History();
  if (!flags.history.empty()) {
    std::ofstream out(flags.history, std::ios::binary);
    out << history;
    if (!out) return Fail(fmt::format("{}: cannot write the history", flags.history));
  }
  if (!flags.json) PrintStats(load, target, n_clients);
  return CheckAndReport(flags, target, history, load, scheme.get(), quiet);
}
