// tokensim: the protocol core in the deterministic simulator.
//
//   tokensim run SCENARIO.yaml [--seed N] [--history FILE] [--trace FILE] [--html FILE]
//   tokensim fuzz [--cases N] [--time-limit S] [--shard K/N] [--result FILE]
//   tokensim merge RESULT... (a sharded campaign's results)      tokensim --help
//
// run: runs the scenario, checks the recorded history, prints a summary and, as its last
// line, "digest <hex>". Exit 0 when the outcome matches the scenario's expectation (fuzz: no
// violation), 1 on a violation or mismatch, 2 on bad input.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "checker/json_escape.h"
#include "checker/report.h"
#include "core/node.h"
#include "harness/campaign.h"
#include "harness/cli.h"
#include "harness/explore_cli.h"
#include "harness/fuzz.h"
#include "harness/sim_check.h"
#include "sim/scenario_yaml.h"

namespace {

using checker::JsonQuote;

void ListMutants(bool json) {
  for (token::Mutant m : token::kAllMutants) {
    if (json) {
      std::printf("{\"mutant\":%s,\"description\":%s}\n", JsonQuote(token::MutantName(m)).c_str(),
                  JsonQuote(token::MutantDescription(m)).c_str());
    } else {
      std::printf("%-26s %s\n", std::string(token::MutantName(m)).c_str(),
                  std::string(token::MutantDescription(m)).c_str());
    }
  }
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return static_cast<bool>(out);
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "tokensim: %s\n", message.c_str());
  return tokenapp::cli::kUsage;
}

struct RunFlags {
  std::string path, history, trace, html;
  std::uint64_t seed = 0;
  std::optional<token::Mutant> mutant;
};

struct FuzzFlags {
  tokensim::FuzzOptions options;
  std::string shard, result;
  bool quiet = false, list_mutants = false;
};

struct Flags {
  bool json = false;
  std::string command;
  RunFlags run;
  FuzzFlags fuzz;
  std::vector<std::string> merge;
};

// --mutant NAME: one of the planted bugs.
CLI::Option* AddMutant(CLI::App& app, std::optional<token::Mutant>* mutant) {
  return app
      .add_option_function<std::string>(
          "--mutant", [mutant](const std::string& name) { *mutant = token::MutantFromName(name); },
          "run a planted bug instead of the protocol (tokensim mutants lists them)")
      ->type_name("NAME")
      ->check(CLI::Validator(
          [](std::string& name) -> std::string {
            return token::MutantFromName(name)
                       ? ""
                       : fmt::format("unknown planted bug '{}' (see tokensim mutants)", name);
          },
          "NAME"));
}

void Define(CLI::App& app, Flags& f) {
  tokenapp::cli::Configure(app, "tokensim",
                           "The protocol core in the deterministic simulator: run scenarios, fuzz "
                           "generated ones, merge sharded fuzz campaigns.",
                           "0 outcome as expected (fuzz, merge: no violation), 1 violation or "
                           "mismatch, 2 bad input");
  tokenapp::cli::AddJson(app, &f.json);
  app.require_subcommand(1);
  auto add = [&](const char* name, const std::string& what) {
    CLI::App* sub = app.add_subcommand(name, what);
    sub->callback([&f, name] { f.command = name; });
    return sub;
  };
  for (const char* name : {"run", "replay"}) {
    CLI::App* run = add(name, std::string(name) == "run"
                                  ? "run a scenario, check its history, print a summary and a "
                                    "digest"
                                  : "the same as run: reproduces a case fuzz wrote");
    run->add_option("SCENARIO", f.run.path, "the scenario (YAML, docs/SCENARIOS.md)")
        ->required()
        ->check(CLI::ExistingFile);
    tokenapp::cli::AddNumber(*run, "--seed", &f.run.seed, 0, UINT64_MAX,
                             "override the scenario's seed");
    AddMutant(*run, &f.run.mutant);
    run->add_option("--history", f.run.history, "write the client history (JSON Lines)")
        ->type_name("FILE");
    run->add_option("--trace", f.run.trace, "write a readable trace of every event")
        ->type_name("FILE");
    run->add_option("--html", f.run.html,
                    "write a report: per token, a timeline of the history with any violation "
                    "marked, the messages between clients and nodes, and the faults (one "
                    "self-contained HTML page)")
        ->type_name("FILE");
  }
  tokensim::FuzzOptions& o = f.fuzz.options;
  CLI::App* fuzz = add("fuzz",
                       "generate swarm scenarios; on a failure shrink it, write it as YAML into "
                       "DIR with its HTML report and print the replay command; exit 1");
  auto* cases = tokenapp::cli::AddNumber(
      *fuzz, "--cases", &o.cases, 1, 1'000'000'000'000,
      "run the cases below N (default 1000 without --time-limit; with it, whichever ends "
      "first)");
  cases->default_str("1000");
  tokenapp::cli::AddNumber(*fuzz, "--seed", &o.seed, 0, UINT64_MAX,
                           "the campaign's seed (default: from the clock)")
      ->default_str("clock");
  fuzz->add_option_function<double>(
          "--time-limit", [&o](double seconds) { o.time_limit_s = seconds; },
          "fuzz for S seconds (alone: as many cases as fit)")
      ->type_name("S")
      ->check(CLI::Range(0.001, 30.0 * 24 * 3600));
  fuzz->add_option("--shard", f.fuzz.shard,
                   "run shard K of N (K in 0..N-1): the cases whose index is K modulo N, so N "
                   "machines with the same seed cover one campaign; merge the --result files "
                   "with tokensim merge")
      ->type_name("K/N");
  tokenapp::cli::AddNumber(*fuzz, "--max-failures", &o.max_failures, 0, 1'000'000,
                           "stop after this many failing cases (0: never; each is shrunk and "
                           "written)");
  AddMutant(*fuzz, &f.run.mutant);
  fuzz->add_option("--out", o.out_dir, "where failing cases go")
      ->type_name("DIR")
      ->capture_default_str();
  fuzz->add_option("--result", f.fuzz.result,
                   "write the campaign result (one JSON object, docs/FORMATS.md) to FILE")
      ->type_name("FILE");
  tokenapp::cli::AddNumber(*fuzz, "--max-shrink-steps", &o.max_shrink_steps, 1, 1'000'000,
                           "bound on the runs spent shrinking one failure");
  fuzz->add_flag("--quiet", f.fuzz.quiet,
                 "nothing on stderr: no progress line (it shows only on a terminal: cases, "
                 "cases/s, elapsed, faults drawn) and no notice as a failure is found");
  fuzz->add_flag("--list-mutants", f.fuzz.list_mutants, "list the planted bugs and exit");
  add("merge",
      "add up the results of a sharded fuzz campaign: cases run, coverage, failures "
      "with their repro files, rate; exit 1 when any shard failed, 2 when a shard is "
      "missing")
      ->add_option("RESULT", f.merge, "files written by fuzz --result (or --json output)")
      ->required()
      ->check(CLI::ExistingFile);
  add("mutants", "list the planted bugs (protocol variants for the simulator only)");
  // Listed for --help; main hands its arguments to tokensim::ExploreCommand, which parses
  // them (harness/explore_cli.h).
  add("explore",
      "visit every interleaving of a small configuration; on a violation write the shortest "
      "counterexample as a scenario (options: tokensim explore --help; docs/EXPLORE.md)");
}

int Run(const RunFlags& f, bool json, const CLI::App& run_app) {
  auto loaded = sim::LoadScenarioFile(f.path);
  if (!loaded.ok()) return Fail(loaded.status().ToString());
  sim::Scenario scenario = std::move(loaded).value();
  if (run_app.count("--seed") > 0) scenario.seed = f.seed;
  if (f.mutant) scenario.node_options.mutant = *f.mutant;

  std::ofstream trace_file;
  sim::TraceSink trace;
  if (!f.trace.empty()) {
    trace_file.open(f.trace, std::ios::binary);
    if (!trace_file) return Fail(fmt::format("cannot write trace file '{}'", f.trace));
    trace = [&trace_file](std::string_view line) { trace_file << line << '\n'; };
  }
  std::vector<sim::MessageRecord> messages;
  const tokensim::Judgement j =
      tokensim::RunAndJudge(scenario, trace, f.html.empty() ? nullptr : &messages);
  if (!f.history.empty() && !WriteFile(f.history, j.history_jsonl)) {
    return Fail(fmt::format("cannot write history file '{}'", f.history));
  }
  if (!f.html.empty()) {
    if (!j.history) return Fail(fmt::format("no report: {}", j.mismatch));
    if (const token::Status written = checker::WriteHtmlReport(
            f.html, *j.history, j.report, tokensim::SimReportExtras(scenario, j, messages));
        !written.ok()) {
      return Fail(written.message());
    }
  }
  const std::string digest = sim::DigestHex(j.run.digest);
  if (json) {
    std::printf(
        "{\"scenario\":%s,\"seed\":%llu,\"mutant\":%s,\"expectation_met\":%s,\"mismatch\":%s,"
        "\"check\":%s,\"digest\":\"%s\"%s}\n",
        JsonQuote(scenario.name).c_str(), static_cast<unsigned long long>(scenario.seed),
        JsonQuote(token::MutantName(scenario.node_options.mutant)).c_str(),
        j.expectation_met ? "true" : "false", JsonQuote(j.mismatch).c_str(),
        checker::FormatReportJson(j.report).c_str(), digest.c_str(),
        f.html.empty() ? "" : fmt::format(",\"report\":{}", JsonQuote(f.html)).c_str());
  } else {
    std::fputs(tokensim::Summary(scenario, j).c_str(), stdout);
    if (!f.html.empty()) std::printf("report %s\n", f.html.c_str());
    std::printf("digest %s\n", digest.c_str());
  }
  return j.expectation_met ? 0 : 1;
}

// "K/N" with N >= 1 and K < N.
bool ParseShard(const std::string& text, std::uint64_t* shard, std::uint64_t* shards) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) return false;
  const auto k = tokenapp::ParseUnsigned(std::string_view(text).substr(0, slash));
  const auto n = tokenapp::ParseUnsigned(std::string_view(text).substr(slash + 1));
  if (!k || !n || *n == 0 || *n > 1'000'000 || *k >= *n) return false;
  *shard = *k;
  *shards = *n;
  return true;
}

int Fuzz(FuzzFlags& f, const std::optional<token::Mutant>& mutant, bool json,
         const CLI::App& fuzz_app) {
  if (f.list_mutants) {
    ListMutants(json);
    return 0;
  }
  tokensim::FuzzOptions& o = f.options;
  if (fuzz_app.count("--seed") == 0) {
    o.seed = static_cast<std::uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  }
  if (fuzz_app.count("--cases") == 0 && o.time_limit_s > 0) o.cases = UINT64_MAX;
  if (!f.shard.empty() && !ParseShard(f.shard, &o.shard, &o.shards)) {
    return Fail(fmt::format("--shard '{}': expected K/N with 0 <= K < N <= 1000000", f.shard));
  }
  if (mutant) o.mutant = *mutant;
  // The progress line: on a terminal only, rewritten in place.
  const bool progress = !f.quiet && isatty(STDERR_FILENO) != 0;
  o.on_progress = [progress, quiet = f.quiet](const tokensim::FuzzProgress& p) {
    if (p.failing != nullptr && !quiet) {
      if (progress) std::fputs("\n", stderr);
      std::fprintf(stderr, "case %llu fails after %.2f s: %s; shrinking...\n",
                   static_cast<unsigned long long>(p.failing_case), p.elapsed_s,
                   checker::TextEscape(*p.failing).c_str());
      return;
    }
    if (!progress || p.failing != nullptr) return;
    std::fprintf(stderr,
                 "\rcases %llu, %.0f cases/s, elapsed %.0f s, faults drawn %llu, "
                 "failures %llu ",
                 static_cast<unsigned long long>(p.cases_run),
                 static_cast<double>(p.cases_run) / std::max(p.elapsed_s, 1e-9), p.elapsed_s,
                 static_cast<unsigned long long>(p.faults_drawn),
                 static_cast<unsigned long long>(p.failures));
  };
  if (!json) {
    std::printf("fuzzing: seed %llu, %s%s%s, protocol %s\n",
                static_cast<unsigned long long>(o.seed),
                o.cases == UINT64_MAX ? "no case bound"
                                      : fmt::format("the cases below {}", o.cases).c_str(),
                o.time_limit_s > 0 ? fmt::format(", for up to {} s", o.time_limit_s).c_str() : "",
                o.shards > 1 ? fmt::format(", shard {} of {}", o.shard, o.shards).c_str() : "",
                std::string(token::MutantName(o.mutant)).c_str());
    std::fflush(stdout);
  }
  const tokensim::FuzzResult r = tokensim::Fuzz(o);
  if (progress) std::fputs("\n", stderr);
  const std::string result_json = tokensim::ShardResultJson(o, r);
  if (!f.result.empty() && !WriteFile(f.result, result_json + "\n")) {
    return Fail(fmt::format("cannot write the result file '{}'", f.result));
  }
  if (json) {
    std::printf("%s\n", result_json.c_str());
    return r.failed() ? 1 : 0;
  }
  std::printf("%llu cases in %.2f s (%.0f cases/s), %llu faults drawn\n",
              static_cast<unsigned long long>(r.cases_run), r.elapsed_s,
              static_cast<double>(r.cases_run) / std::max(r.elapsed_s, 1e-9),
              static_cast<unsigned long long>(r.faults_drawn));
  if (!r.failed()) {
    std::printf("no violation\n");
    return 0;
  }
  for (const tokensim::FuzzFailure& failure : r.failures) {
    std::printf("FAILED at case %llu after %.2f s: %s\n",
                static_cast<unsigned long long>(failure.case_index), failure.seconds_to_failure,
                checker::TextEscape(failure.reason).c_str());
    std::printf("shrunk in %llu steps to %llu operations and %llu faults\n",
                static_cast<unsigned long long>(failure.shrink_steps),
                static_cast<unsigned long long>(failure.shrunk_operations),
                static_cast<unsigned long long>(failure.shrunk_faults));
    if (failure.yaml_path.empty()) {
      std::printf("could not write the shrunk scenario into '%s'\n", o.out_dir.c_str());
    } else {
      std::printf("replay: tokensim replay %s\n", failure.yaml_path.c_str());
      if (!failure.html_path.empty()) std::printf("report: %s\n", failure.html_path.c_str());
    }
  }
  return 1;
}

int Merge(const std::vector<std::string>& files, bool json) {
  std::vector<std::string> texts;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) return Fail(fmt::format("cannot read '{}'", file));
    texts.push_back(text.str());
  }
  auto campaign = tokensim::MergeShards(texts, files);
  if (!campaign.ok()) return Fail(campaign.status().message());
  const tokensim::Campaign& c = campaign.value();
  std::fputs(json ? (tokensim::CampaignJson(c) + "\n").c_str() : tokensim::CampaignText(c).c_str(),
             stdout);
  if (!c.missing.empty()) {
    std::fprintf(stderr, "tokensim: the campaign is incomplete: %zu of %llu shards missing\n",
                 c.missing.size(), static_cast<unsigned long long>(c.shards));
    return tokenapp::cli::kUsage;
  }
  return c.failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "explore") {
    // The explorer copies a node per step and probes a visited set of hundreds of
    // megabytes: huge pages take a tenth off its time (docs/EXPLORE.md).
    tokenapp::cli::RunWithHugePages(argv, "TOKENSIM_SMALL_PAGES");
    return tokensim::ExploreCommand(argc - 2, argv + 2);
  }
  CLI::App app;
  Flags f;
  Define(app, f);
  if (auto code = tokenapp::cli::Parse(app, argc, argv)) return *code;
  if (f.command == "run" || f.command == "replay") {
    return Run(f.run, f.json, *app.get_subcommand(f.command));
  }
  if (f.command == "fuzz") return Fuzz(f.fuzz, f.run.mutant, f.json, *app.get_subcommand("fuzz"));
  if (f.command == "merge") return Merge(f.merge, f.json);

  ListMutants(f.json);
  return 0;
}
