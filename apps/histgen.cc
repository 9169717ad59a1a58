// histgen: writes a large random register history (JSON Lines, docs/FORMATS.md), for
// benchmarks and tests of the checker.
//
//   histgen --ops N [--processes P] [--tokens T] [--read-ratio R] [--seed S]
//           [--info-permille K] [--stale-reads K] [--values K] [--no-versions]
//           > history.jsonl
//
// The history is linearizable by construction: at every step a random process either
// invokes an operation or completes its outstanding one, which takes effect at its
// completion (a write sets the register and the next version, a read returns the current
// value). --info-permille leaves that share of operations with an unknown outcome (a write
// that then takes effect or not, at random); --stale-reads K replaces K reads' values with
// the value before the token's last write: a violation the checker must flag when that
// write completed before the read was invoked, but legal when the two overlapped (with many
// processes they often do: such a history may still be linearizable). --values K draws
// every written value from K
// names (values repeat, as create and drop make them); --no-versions leaves versions out
// (as a tool that does not see them would), so repeated values go to the checker's search.
#include <cstdio>
#include <string>
#include <vector>

#include "checker/history_writer.h"
#include "harness/cli.h"
#include "sim/random.h"

namespace {

struct Proc {
  bool busy = false;
  bool write = false;
  std::uint32_t token = 0;
  std::uint64_t value = 0;  // write: the value's number
};

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t ops = 0, processes = 64, tokens = 1, seed = 1, info_permille = 0, stale = 0;
  std::uint64_t distinct_values = 0;  // 0: every write its own value
  bool versions = true;
  double read_ratio = 0.5;
  CLI::App app;
  tokenapp::cli::Configure(
      app, "histgen",
      "Writes a random register history (JSON Lines, docs/FORMATS.md) on stdout, "
      "linearizable by construction unless --stale-reads plants stale reads, for benchmarks "
      "and tests of the checker.",
      "0 written, 2 bad usage");
  tokenapp::cli::AddNumber(app, "--ops", &ops, 1, 1'000'000'000, "operations")->required();
  tokenapp::cli::AddNumber(app, "--processes", &processes, 1, 1'000'000, "client processes");
  tokenapp::cli::AddNumber(app, "--tokens", &tokens, 1, 1'000'000, "registers");
  tokenapp::cli::AddReal(app, "--read-ratio", &read_ratio, 0, 1, "fraction of reads");
  tokenapp::cli::AddNumber(app, "--seed", &seed, 0, UINT64_MAX, "the random seed");
  tokenapp::cli::AddNumber(app, "--info-permille", &info_permille, 0, 1000,
                           "share of operations left with an unknown outcome (a write then "
                           "takes effect or not, at random)");
  tokenapp::cli::AddNumber(app, "--stale-reads", &stale, 0, 1'000'000'000,
                           "replace up to K reads' values with the value before the last "
                           "write (a violation when that write completed before the read "
                           "began; legal when they overlapped)");
  tokenapp::cli::AddNumber(app, "--values", &distinct_values, 1, 1'000'000'000,
                           "written values repeat, drawn from K names (as create and drop make "
                           "them; default: every write its own value)");
  app.add_flag("!--no-versions", versions,
               "leave the versions out (repeated values then go to the checker's search)");
  if (auto code = tokenapp::cli::Parse(app, argc, argv)) return *code;
  sim::Random rng(seed);
  std::vector<Proc> procs(processes);
  std::vector<std::uint64_t> version(tokens, 0), current(tokens, 0);  // 0: initial (null)
  std::vector<std::uint64_t> previous(tokens, 0);
  std::uint64_t next_value = 1, invoked = 0, completed = 0, stale_left = stale;
  std::int64_t time = 0;
  std::string line, token, name;
  const auto read_permille = static_cast<std::uint64_t>(read_ratio * 1000 + 0.5);
  // Value v > 0 is {"name":"v<v>","low":0,"mid":1,"high":2}; 0 is the initial value (null).
  // The number in a value's name (0 for the initial value).
  auto label = [distinct_values](std::uint64_t v) {
    return v == 0 || distinct_values == 0 ? v : 1 + (v - 1) % distinct_values;
  };
  auto value = [&name, &label](std::uint64_t v) {
    if (v == 0) return checker::LineValue{};
    name = "v" + std::to_string(label(v));
    return checker::LineValue{checker::LineValue::Kind::kData, name, 0, 1, 2};
  };
  auto emit = [&line](const checker::HistoryLine& l) {
    line.clear();
    checker::AppendHistoryLine(line, l);
    std::fputs(line.c_str(), stdout);
  };
  while (completed < ops) {
    time += 1 + static_cast<std::int64_t>(rng.Below(1000));
    const std::uint64_t p = rng.Below(processes);
    Proc& pr = procs[p];
    checker::HistoryLine l;
    l.process = p;
    if (!pr.busy) {
      if (invoked == ops) continue;
      ++invoked;
      pr.busy = true;
      pr.token = static_cast<std::uint32_t>(rng.Below(tokens));
      pr.write = rng.Below(1000) >= read_permille;
      token = "t" + std::to_string(pr.token);
      l.type = checker::LineType::kInvoke;
      l.read = !pr.write;
      l.token = token;
      if (pr.write) {
        pr.value = next_value++;
        l.value = value(pr.value);
      }
      l.time_ns = time;
      emit(l);
      continue;
    }
    pr.busy = false;
    ++completed;
    const std::uint32_t t = pr.token;
    const bool info = rng.Below(1000) < info_permille;
    token = "t" + std::to_string(t);
    l.type = info ? checker::LineType::kInfo : checker::LineType::kOk;
    l.read = !pr.write;
    l.token = token;
    if (pr.write) {
      // An info write takes effect or not, at random; an ok write always does.
      if (!info || rng.Below(2) == 0) {
        previous[t] = current[t];
        current[t] = pr.value;
        ++version[t];
      }
      l.value = value(pr.value);
      if (!info && versions) l.version = version[t];
    } else if (!info) {
      std::uint64_t v = current[t];
      if (stale_left > 0 && label(current[t]) != label(previous[t]) && rng.Below(100) == 0) {
        v = previous[t];  // a stale read
        --stale_left;
        l.value = value(v);
      } else {
        l.value = value(v);
        if (versions) l.version = version[t];
      }
    }
    l.time_ns = time;
    emit(l);
  }
  return 0;
}
