// tokensim: the protocol core in the deterministic simulator.
//
//   tokensim run SCENARIO.yaml [--seed N] [--history FILE] [--trace FILE] [--html FILE]
//
// Runs the scenario, checks the recorded history, prints a summary and, as its last line,
// "digest <hex>". Exit 0 when the outcome matches the scenario's expectation, 1 on a
// violation or mismatch, 2 on bad input.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "core/node.h"
#include "harness/explore_cli.h"
#include "harness/fuzz.h"
#include "harness/sim_check.h"
#include "sim/scenario_yaml.h"

namespace {

int Usage(std::FILE* out) {
  std::fprintf(out,
               "usage: tokensim run SCENARIO.yaml [--seed N] [--mutant NAME] [--history FILE]\n"
               "                    [--trace FILE] [--html FILE]\n"
               "       tokensim replay SCENARIO.yaml      (the same as run: reproduces a case)\n"
               "       tokensim fuzz [--cases N] [--seed S] [--time-limit SECONDS]\n"
               "                     [--mutant NAME] [--out DIR] [--quiet] [--list-mutants]\n"
               "       tokensim mutants\n");
  tokensim::ExploreUsage(out);
  std::fprintf(out,
               "  run      run a scenario, check its history, print a summary and a digest\n"
               "  fuzz     generate swarm scenarios; on a failure shrink it, write it as YAML\n"
               "           into DIR (default fuzz-out) and print the replay command; exit 1\n"
               "  mutants  list the planted bugs (protocol variants for the simulator only)\n"
               "  --seed N      override the scenario's seed\n"
               "  --mutant NAME run a planted bug instead of the scenario's protocol\n"
               "  --history F   write the client history (JSON Lines) to F\n"
               "  --trace F     write a readable trace of every event to F\n"
               "  --html F      write a report to F: per token, a timeline of the history\n"
               "                with any violation marked, the messages between clients and\n"
               "                nodes, and the faults (one self-contained HTML page)\n"
               "exit: 0 outcome as expected, 1 violation or mismatch, 2 bad input\n");
  return 2;
}

void ListMutants() {
  for (token::Mutant m : token::kAllMutants) {
    std::printf("%-26s %s\n", std::string(token::MutantName(m)).c_str(),
                std::string(token::MutantDescription(m)).c_str());
  }
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return static_cast<bool>(out);
}

// Walks a command's arguments; a flag missing its value or a bad number exits with 2.
class Args {
 public:
  Args(int argc, char** argv) : argc_(argc), argv_(argv) {}
  bool Next() { return ++i_ < argc_; }
  std::string Current() const { return argv_[i_]; }
  std::string Value(const char* flag) {
    if (i_ + 1 >= argc_) {
      std::fprintf(stderr, "tokensim: %s needs a value\n", flag);
      std::exit(2);
    }
    return argv_[++i_];
  }
  std::uint64_t Number(const char* flag) {
    const std::string v = Value(flag);
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || v[0] == '-') {
      std::fprintf(stderr, "tokensim: %s needs a non-negative integer, got '%s'\n", flag,
                   v.c_str());
      std::exit(2);
    }
    return n;
  }

 private:
  int argc_;
  char** argv_;
  int i_ = -1;
};

int Run(int argc, char** argv) {
  std::string path, history_path, trace_path, html_path;
  std::optional<std::uint64_t> seed;
  std::optional<token::Mutant> mutant;
  Args args(argc, argv);
  while (args.Next()) {
    const std::string a = args.Current();
    if (a == "--seed") {
      seed = args.Number("--seed");
    } else if (a == "--mutant") {
      const std::string name = args.Value("--mutant");
      auto m = token::MutantFromName(name);
      if (!m) {
        std::fprintf(stderr, "tokensim: unknown planted bug '%s' (see tokensim mutants)\n",
                     name.c_str());
        return 2;
      }
      mutant = *m;
    } else if (a == "--history") {
      history_path = args.Value("--history");
    } else if (a == "--trace") {
      trace_path = args.Value("--trace");
    } else if (a == "--html") {
      html_path = args.Value("--html");
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "tokensim: unknown option '%s'\n", a.c_str());
      return Usage(stderr);
    } else if (path.empty()) {
      path = a;
    } else {
      std::fprintf(stderr, "tokensim: more than one scenario given\n");
      return 2;
    }
  }
  if (path.empty()) return Usage(stderr);
  auto loaded = sim::LoadScenarioFile(path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "tokensim: %s\n", loaded.status().ToString().c_str());
    return 2;
  }
  sim::Scenario scenario = std::move(loaded).value();
  if (seed) scenario.seed = *seed;
  if (mutant) scenario.node_options.mutant = *mutant;

  std::ofstream trace_file;
  sim::TraceSink trace;
  if (!trace_path.empty()) {
    trace_file.open(trace_path, std::ios::binary);
    if (!trace_file) {
      std::fprintf(stderr, "tokensim: cannot write trace file '%s'\n", trace_path.c_str());
      return 2;
    }
    trace = [&trace_file](std::string_view line) { trace_file << line << '\n'; };
  }
  std::vector<sim::MessageRecord> messages;
  const tokensim::Judgement j =
      tokensim::RunAndJudge(scenario, trace, html_path.empty() ? nullptr : &messages);
  if (!history_path.empty() && !WriteFile(history_path, j.history_jsonl)) {
    std::fprintf(stderr, "tokensim: cannot write history file '%s'\n", history_path.c_str());
    return 2;
  }
  if (!html_path.empty()) {
    if (!j.history) {
      std::fprintf(stderr, "tokensim: no report: %s\n", j.mismatch.c_str());
      return 2;
    }
    if (const token::Status written = checker::WriteHtmlReport(
            html_path, *j.history, j.report, tokensim::SimReportExtras(scenario, j, messages));
        !written.ok()) {
      std::fprintf(stderr, "tokensim: %s\n", written.message().c_str());
      return 2;
    }
  }
  std::fputs(tokensim::Summary(scenario, j).c_str(), stdout);
  if (!html_path.empty()) std::printf("report %s\n", html_path.c_str());
  std::printf("digest %s\n", sim::DigestHex(j.run.digest).c_str());
  return j.expectation_met ? 0 : 1;
}

int Fuzz(int argc, char** argv) {
  tokensim::FuzzOptions o;
  o.seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count() %
                                      1000000007);
  Args args(argc, argv);
  while (args.Next()) {
    const std::string a = args.Current();
    if (a == "--cases") {
      o.cases = args.Number("--cases");
    } else if (a == "--seed") {
      o.seed = args.Number("--seed");
    } else if (a == "--time-limit") {
      o.time_limit_s = static_cast<double>(args.Number("--time-limit"));
    } else if (a == "--out") {
      o.out_dir = args.Value("--out");
    } else if (a == "--quiet") {
      o.progress = false;
    } else if (a == "--mutant") {
      const std::string name = args.Value("--mutant");
      auto m = token::MutantFromName(name);
      if (!m) {
        std::fprintf(stderr, "tokensim: unknown planted bug '%s' (see --list-mutants)\n",
                     name.c_str());
        return 2;
      }
      o.mutant = *m;
    } else if (a == "--list-mutants") {
      ListMutants();
      return 0;
    } else {
      std::fprintf(stderr, "tokensim: unknown fuzz option '%s'\n", a.c_str());
      return Usage(stderr);
    }
  }
  std::printf("fuzzing: seed %llu, up to %llu cases%s, protocol %s\n",
              static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(o.cases),
              o.time_limit_s > 0 ? fmt::format(" or {} s", o.time_limit_s).c_str() : "",
              std::string(token::MutantName(o.mutant)).c_str());
  std::fflush(stdout);
  const tokensim::FuzzResult r = tokensim::Fuzz(o);
  if (o.progress) std::fprintf(stderr, "\n");
  std::printf("%llu cases in %.2f s (%.0f cases/s)\n", static_cast<unsigned long long>(r.cases_run),
              r.elapsed_s, static_cast<double>(r.cases_run) / std::max(r.elapsed_s, 1e-9));
  if (!r.failed) {
    std::printf("no violation\n");
    return 0;
  }
  std::printf("FAILED at case %llu after %.2f s: %s\n",
              static_cast<unsigned long long>(r.failing_case), r.seconds_to_failure,
              r.reason.c_str());
  std::printf("shrunk in %llu steps to %llu operations and %llu faults\n",
              static_cast<unsigned long long>(r.shrink_steps),
              static_cast<unsigned long long>(r.shrunk_operations),
              static_cast<unsigned long long>(r.shrunk_faults));
  if (r.yaml_path.empty()) {
    std::printf("could not write the shrunk scenario into '%s'\n", o.out_dir.c_str());
  } else {
    std::printf("replay: tokensim replay %s\n", r.yaml_path.c_str());
    if (!r.html_path.empty()) std::printf("report: %s\n", r.html_path.c_str());
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage(stderr);
  const std::string command = argv[1];
  if (command == "run") return Run(argc - 2, argv + 2);
  if (command == "replay") return Run(argc - 2, argv + 2);
  if (command == "fuzz") return Fuzz(argc - 2, argv + 2);
  if (command == "explore") return tokensim::ExploreCommand(argc - 2, argv + 2);
  if (command == "mutants") {
    ListMutants();
    return 0;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    Usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "tokensim: unknown command '%s'\n", command.c_str());
  return Usage(stderr);
}
