// tokensim: the protocol core in the deterministic simulator.
//
//   tokensim run SCENARIO.yaml [--seed N] [--history FILE] [--trace FILE] [--quiet]
//
// Runs the scenario, checks the recorded history, prints a summary and, as its last line,
// "digest <hex>". Exit 0 when the outcome matches the scenario's expectation, 1 on a
// violation or mismatch, 2 on bad input.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "apps/sim_check.h"
#include "core/node.h"
#include "sim/scenario_yaml.h"

namespace {

int Usage(std::FILE* out) {
  std::fprintf(out,
               "usage: tokensim run SCENARIO.yaml [--seed N] [--mutant NAME] [--history FILE]\n"
               "                    [--trace FILE]\n"
               "       tokensim mutants\n"
               "  run      run a scenario, check its history, print a summary and a digest\n"
               "  mutants  list the planted bugs (protocol variants for the simulator only)\n"
               "  --seed N      override the scenario's seed\n"
               "  --mutant NAME run a planted bug instead of the scenario's protocol\n"
               "  --history F   write the client history (JSON Lines) to F\n"
               "  --trace F     write a readable trace of every event to F\n"
               "exit: 0 outcome as expected, 1 violation or mismatch, 2 bad input\n");
  return 2;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return static_cast<bool>(out);
}

int Run(int argc, char** argv) {
  std::string path, history_path, trace_path;
  std::optional<std::uint64_t> seed;
  std::optional<token::Mutant> mutant;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tokensim: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seed") {
      const std::string v = value("--seed");
      char* end = nullptr;
      const unsigned long long s = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || v[0] == '-') {
        std::fprintf(stderr, "tokensim: --seed needs a non-negative integer, got '%s'\n",
                     v.c_str());
        return 2;
      }
      seed = s;
    } else if (a == "--mutant") {
      const std::string name = value("--mutant");
      auto m = token::MutantFromName(name);
      if (!m) {
        std::fprintf(stderr, "tokensim: unknown planted bug '%s' (see tokensim mutants)\n",
                     name.c_str());
        return 2;
      }
      mutant = *m;
    } else if (a == "--history") {
      history_path = value("--history");
    } else if (a == "--trace") {
      trace_path = value("--trace");
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
  const tokensim::Judgement j = tokensim::RunAndJudge(scenario, trace);
  if (!history_path.empty() && !WriteFile(history_path, j.history_jsonl)) {
    std::fprintf(stderr, "tokensim: cannot write history file '%s'\n", history_path.c_str());
    return 2;
  }
  std::fputs(tokensim::Summary(scenario, j).c_str(), stdout);
  std::printf("digest %s\n", sim::DigestHex(j.run.digest).c_str());
  return j.expectation_met ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage(stderr);
  const std::string command = argv[1];
  if (command == "run") return Run(argc - 2, argv + 2);
  if (command == "mutants") {
    for (token::Mutant m : token::kAllMutants) {
      std::printf("%-26s %s\n", std::string(token::MutantName(m)).c_str(),
                  std::string(token::MutantDescription(m)).c_str());
    }
    return 0;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    Usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "tokensim: unknown command '%s'\n", command.c_str());
  return Usage(stderr);
}
