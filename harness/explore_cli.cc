#include "harness/explore_cli.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "harness/explore.h"
#include "harness/sim_check.h"
#include "sim/scenario_yaml.h"

namespace tokensim {
namespace {

// Bad input: the message goes to stderr and the command exits 2.
struct BadInput {
  std::string message;
};

std::uint64_t Number(std::string_view flag, std::string_view v, std::uint64_t low,
                     std::uint64_t high) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < low || n > high) {
    throw BadInput{fmt::format("{} needs an integer in {}..{}, got '{}'", flag, low, high, v)};
  }
  return n;
}

struct Options {
  std::string scenario;
  std::uint32_t replicas = 3;
  std::uint32_t tokens = 1;
  std::uint32_t readers = 2;
  std::uint32_t ops = 1;
  std::optional<token::Mutant> mutant;
  std::string out_dir = "explore-out";
  bool quiet = false;
  ExploreConfig config;  // bounds, faults and switches; scheme and processes come later
};

Options Parse(int argc, char** argv) {
  Options o;
  o.config.threads = std::clamp(std::thread::hardware_concurrency(), 1U, 64U);
  bool shape_given = false;
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) throw BadInput{fmt::format("{} needs a value", a)};
      return argv[++i];
    };
    if (a == "--replicas") {
      o.replicas = static_cast<std::uint32_t>(Number(a, value(), 1, 16));
      shape_given = true;
    } else if (a == "--tokens") {
      o.tokens = static_cast<std::uint32_t>(Number(a, value(), 1, 4));
      shape_given = true;
    } else if (a == "--readers") {
      o.readers = static_cast<std::uint32_t>(Number(a, value(), 0, 8));
      shape_given = true;
    } else if (a == "--ops") {
      o.ops = static_cast<std::uint32_t>(Number(a, value(), 1, 8));
      shape_given = true;
    } else if (a == "--crashes") {
      o.config.crashes = static_cast<std::uint32_t>(Number(a, value(), 0, 16));
    } else if (a == "--restarts") {
      o.config.restarts = static_cast<std::uint32_t>(Number(a, value(), 0, 8));
    } else if (a == "--restart-kinds") {
      const std::string_view list = value();
      o.config.restart_plain = o.config.restart_power_cut = o.config.restart_disk_lost = false;
      std::size_t pos = 0;
      while (pos <= list.size()) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        const std::string_view k = list.substr(pos, comma - pos);
        if (k == "plain") {
          o.config.restart_plain = true;
        } else if (k == "power-cut") {
          o.config.restart_power_cut = true;
        } else if (k == "disk-lost") {
          o.config.restart_disk_lost = true;
        } else {
          throw BadInput{fmt::format(
              "--restart-kinds: unknown kind '{}' (expected plain, power-cut, disk-lost)", k)};
        }
        pos = comma + 1;
      }
    } else if (a == "--mutant") {
      const std::string_view name = value();
      o.mutant = token::MutantFromName(name);
      if (!o.mutant) {
        throw BadInput{fmt::format("unknown planted bug '{}' (see tokensim mutants)", name)};
      }
    } else if (a == "--give-ups") {
      const std::string_view g = value();
      if (g == "held") {
        o.config.give_ups = GiveUps::kHeld;
      } else if (g == "always") {
        o.config.give_ups = GiveUps::kAlways;
      } else if (g == "never") {
        o.config.give_ups = GiveUps::kNever;
      } else {
        throw BadInput{fmt::format("--give-ups: '{}' (expected held, always, never)", g)};
      }
    } else if (a == "--fifo") {
      o.config.fifo = true;
    } else if (a == "--no-sleep-sets") {
      o.config.sleep_sets = false;
    } else if (a == "--no-symmetry") {
      o.config.symmetry = false;
    } else if (a == "--keep-dead") {
      o.config.drop_dead = false;
    } else if (a == "--no-eager-clients") {
      o.config.eager_clients = false;
    } else if (a == "--liveness") {
      const std::string_view l = value();
      if (l == "budget") {
        o.config.liveness = ExploreConfig::Liveness::kWithinBudget;
      } else if (l == "always") {
        o.config.liveness = ExploreConfig::Liveness::kAlways;
      } else if (l == "off") {
        o.config.liveness = ExploreConfig::Liveness::kOff;
      } else {
        throw BadInput{fmt::format("--liveness: '{}' (expected budget, always, off)", l)};
      }
    } else if (a == "--max-depth") {
      o.config.max_depth = Number(a, value(), 1, 1'000'000);
    } else if (a == "--max-states") {
      o.config.max_states = Number(a, value(), 1, 1'000'000'000'000);
    } else if (a == "--max-frontier") {
      o.config.max_frontier = Number(a, value(), 1, 1'000'000'000);
    } else if (a == "--max-memory") {
      o.config.max_memory_mb = Number(a, value(), 1, 65'536);
    } else if (a == "--threads") {
      o.config.threads = static_cast<std::uint32_t>(Number(a, value(), 1, 64));
    } else if (a == "--time-limit") {
      o.config.max_seconds = static_cast<double>(Number(a, value(), 1, 1'000'000));
    } else if (a == "--out") {
      o.out_dir = value();
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      throw BadInput{fmt::format("unknown explore option '{}'", a)};
    } else if (o.scenario.empty()) {
      o.scenario = a;
    } else {
      throw BadInput{"more than one scenario given"};
    }
  }
  if (!o.scenario.empty() && shape_given) {
    throw BadInput{
        "give a scenario or the shape flags (--replicas, --tokens, --readers, --ops), "
        "not both"};
  }
  return o;
}

std::string Count(std::uint64_t n) {
  std::string digits = fmt::format("{}", n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

}  // namespace

void ExploreUsage(std::FILE* out) {
  std::fputs(
      "       tokensim explore [SCENARIO.yaml] [--replicas N] [--tokens N] [--readers N]\n"
      "                        [--ops N] [--crashes N] [--restarts N] [--restart-kinds LIST]\n"
      "                        [--mutant NAME] [--give-ups held|always|never] [--fifo]\n"
      "                        [--no-sleep-sets] [--no-symmetry] [--keep-dead]\n"
      "                        [--no-eager-clients]\n"
      "                        [--liveness budget|always|off]\n"
      "                        [--max-depth N] [--max-states N] [--max-frontier N]\n"
      "                        [--max-memory MIB (default 4096)] [--threads N (default: the\n"
      "                        machine's cores)]\n"
      "                        [--time-limit SECONDS] [--out DIR] [--quiet]\n"
      "  explore  visit every interleaving of a small configuration (the scenario's scripted\n"
      "           operations, or the shape: --replicas 3 --tokens 1 --readers 2 --ops 1, one\n"
      "           writer client per token); on a violation write the shortest counterexample\n"
      "           as DIR/NAME.yaml (default explore-out) and its report; exit 1\n",
      out);
}

int ExploreCommand(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs("usage: tokensim explore [SCENARIO.yaml] [options]\n", stdout);
      ExploreUsage(stdout);
      return 0;
    }
  }
  Options o;
  try {
    o = Parse(argc, argv);
  } catch (const BadInput& e) {
    std::fprintf(stderr, "tokensim explore: %s\n", e.message.c_str());
    return 2;
  }
  ExploreConfig c = o.config;
  if (!o.scenario.empty()) {
    auto loaded = sim::LoadScenarioFile(o.scenario);
    if (!loaded.ok()) {
      std::fprintf(stderr, "tokensim explore: %s\n", loaded.status().ToString().c_str());
      return 2;
    }
    auto from = ExploreConfigFromScenario(*loaded);
    if (!from.ok()) {
      std::fprintf(stderr, "tokensim explore: %s: %s\n", o.scenario.c_str(),
                   from.status().message().c_str());
      return 2;
    }
    c.name = from->name;
    c.scheme = from->scheme;
    c.node_options = from->node_options;
    c.processes = from->processes;
  } else {
    const ExploreConfig shape = ShapeConfig(o.replicas, o.tokens, o.readers, o.ops);
    c.name = shape.name;
    c.scheme = shape.scheme;
    c.processes = shape.processes;
  }
  if (o.mutant) c.node_options.mutant = *o.mutant;
  const bool tty = !o.quiet && isatty(fileno(stderr)) != 0;
  if (tty) {
    c.progress = [](const ExploreProgress& p) {
      std::fprintf(stderr, "\r%s states, %s unique, %s unique/s, depth %llu, frontier %s   ",
                   Count(p.states).c_str(), Count(p.unique).c_str(),
                   Count(static_cast<std::uint64_t>(static_cast<double>(p.unique) /
                                                    std::max(p.seconds, 1e-9)))
                       .c_str(),
                   static_cast<unsigned long long>(p.depth), Count(p.frontier).c_str());
    };
  }
  std::size_t operations = 0;
  for (const auto& p : c.processes) operations += p.size();
  std::printf(
      "explore %s: %zu nodes, %zu tokens, %zu processes, %zu operations; up to %u "
      "crashes, %u restarts; protocol %s\n",
      c.name.c_str(), c.scheme->nodes().size(), c.scheme->tokens().size(), c.processes.size(),
      operations, c.crashes, c.restarts,
      std::string(token::MutantName(c.node_options.mutant)).c_str());
  std::printf(
      "reductions: sleep sets %s, symmetry %s, dead messages %s, eager clients %s; delivery "
      "%s; give-ups %s; %u thread%s\n",
      c.sleep_sets ? "on" : "off", c.symmetry ? "on" : "off",
      !c.drop_dead      ? "kept"
      : c.restarts == 0 ? "dropped"
                        : "kept (restarts)",
      c.eager_clients ? "on" : "off", c.fifo ? "FIFO per link" : "any order",
      c.give_ups == GiveUps::kHeld     ? "of held calls"
      : c.give_ups == GiveUps::kAlways ? "anywhere"
                                       : "never",
      c.threads, c.threads == 1 ? "" : "s");
  std::fflush(stdout);
  const ExploreResult r = Explore(c);
  if (tty) std::fprintf(stderr, "\n");
  std::printf(
      "%s states, %s unique, %s terminal, depth %llu, %s histories checked, "
      "frontier at most %s\n",
      Count(r.states).c_str(), Count(r.unique).c_str(), Count(r.terminal).c_str(),
      static_cast<unsigned long long>(r.depth), Count(r.histories_checked).c_str(),
      Count(r.max_frontier).c_str());
  std::printf(
      "%.2f s, %s unique states/s, %s states/s\n", r.seconds,
      Count(static_cast<std::uint64_t>(static_cast<double>(r.unique) / std::max(r.seconds, 1e-9)))
          .c_str(),
      Count(static_cast<std::uint64_t>(static_cast<double>(r.states) / std::max(r.seconds, 1e-9)))
          .c_str());
  const char* liveness = r.liveness_checked ? "safety and liveness"
                                            : "safety (liveness not "
                                              "checked: beyond the "
                                              "fault budget or off)";
  if (r.verdict == ExploreResult::Verdict::kNone) {
    if (r.exhausted) {
      std::printf("exhausted: every reachable state visited, no violation (%s checked)\n",
                  liveness);
    } else {
      std::printf(
          "NOT exhausted: stopped by %s; no violation in the states visited (%s "
          "checked)\n",
          r.stopped_by.c_str(), liveness);
    }
    return 0;
  }
  std::printf("VIOLATION (%s) after %zu steps: %s\n",
              r.verdict == ExploreResult::Verdict::kSafety ? "safety" : "liveness", r.path.size(),
              r.violation.c_str());
  for (std::size_t i = 0; i < r.trace.size(); ++i) {
    std::printf("  %3zu. %s\n", i + 1, r.trace[i].c_str());
  }
  sim::Scenario cx = *r.counterexample;
  const WrittenCase written = WriteCase(cx, o.out_dir, cx.name);
  if (written.yaml_path.empty()) {
    std::printf("could not write the counterexample into '%s'\n", o.out_dir.c_str());
  } else {
    std::printf("replay: tokensim replay %s (%s in the simulator: %s)\n", written.yaml_path.c_str(),
                r.replay_fails ? "fails" : "DOES NOT FAIL", r.replay_mismatch.c_str());
    if (!written.html_path.empty()) std::printf("report: %s\n", written.html_path.c_str());
  }
  return 1;
}

}  // namespace tokensim
