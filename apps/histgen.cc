// histgen: writes a large random register history (JSON Lines, docs/FORMATS.md), for
// benchmarks and tests of the checker.
//
//   histgen --ops N [--processes P] [--tokens T] [--read-ratio R] [--seed S]
//           [--info-permille K] [--stale-reads K] > history.jsonl
//
// The history is linearizable by construction: at every step a random process either
// invokes an operation or completes its outstanding one, which takes effect at its
// completion (a write sets the register and the next version, a read returns the current
// value). --info-permille leaves that share of operations with an unknown outcome (a write
// that then takes effect or not, at random); --stale-reads K replaces K reads' values with
// an older value, which the checker must flag.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sim/random.h"

namespace {

struct Proc {
  bool busy = false;
  bool write = false;
  std::uint32_t token = 0;
  std::uint64_t value = 0;  // write: the value's number
};

int Usage() {
  std::fprintf(stderr,
               "usage: histgen --ops N [--processes P] [--tokens T] [--read-ratio R] [--seed S]\n"
               "               [--info-permille K] [--stale-reads K]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t ops = 0, processes = 64, tokens = 1, seed = 1, info_permille = 0, stale = 0;
  double read_ratio = 0.5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    const char* v = argv[++i];
    char* end = nullptr;
    if (a == "--read-ratio") {
      read_ratio = std::strtod(v, &end);
      if (*end || read_ratio < 0 || read_ratio > 1) return Usage();
      continue;
    }
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (*end || *v == '-') return Usage();
    if (a == "--ops") {
      ops = n;
    } else if (a == "--processes") {
      processes = n;
    } else if (a == "--tokens") {
      tokens = n;
    } else if (a == "--seed") {
      seed = n;
    } else if (a == "--info-permille") {
      info_permille = n;
    } else if (a == "--stale-reads") {
      stale = n;
    } else {
      return Usage();
    }
  }
  if (ops == 0 || processes == 0 || tokens == 0 || info_permille > 1000) return Usage();
  sim::Random rng(seed);
  std::vector<Proc> procs(processes);
  std::vector<std::uint64_t> version(tokens, 0), current(tokens, 0);  // 0: initial (null)
  std::vector<std::uint64_t> previous(tokens, 0);
  std::uint64_t next_value = 1, invoked = 0, completed = 0, stale_left = stale;
  std::int64_t time = 0;
  std::string line;
  const auto read_permille = static_cast<std::uint64_t>(read_ratio * 1000 + 0.5);
  auto value_json = [](std::uint64_t v) {
    return v == 0 ? std::string("null")
                  : "{\"name\":\"v" + std::to_string(v) + "\",\"low\":0,\"mid\":1,\"high\":2}";
  };
  while (completed < ops) {
    time += 1 + static_cast<std::int64_t>(rng.Below(1000));
    const std::uint64_t p = rng.Below(processes);
    Proc& pr = procs[p];
    if (!pr.busy) {
      if (invoked == ops) continue;
      ++invoked;
      pr.busy = true;
      pr.token = static_cast<std::uint32_t>(rng.Below(tokens));
      pr.write = rng.Below(1000) >= read_permille;
      line = "{\"process\":" + std::to_string(p) + ",\"type\":\"invoke\",\"f\":\"" +
             (pr.write ? "write" : "read") + "\",\"token\":\"t" + std::to_string(pr.token) + "\"";
      if (pr.write) {
        pr.value = next_value++;
        line += ",\"value\":" + value_json(pr.value);
      }
      line += ",\"time\":" + std::to_string(time) + "}\n";
      std::fputs(line.c_str(), stdout);
      continue;
    }
    pr.busy = false;
    ++completed;
    const std::uint32_t t = pr.token;
    const bool info = rng.Below(1000) < info_permille;
    line = "{\"process\":" + std::to_string(p) + ",\"type\":\"" + (info ? "info" : "ok") +
           "\",\"f\":\"" + (pr.write ? "write" : "read") + "\",\"token\":\"t" + std::to_string(t) +
           "\"";
    if (pr.write) {
      // An info write takes effect or not, at random; an ok write always does.
      if (!info || rng.Below(2) == 0) {
        previous[t] = current[t];
        current[t] = pr.value;
        ++version[t];
      }
      line += ",\"value\":" + value_json(pr.value);
      if (!info) line += ",\"version\":" + std::to_string(version[t]);
    } else if (!info) {
      std::uint64_t v = current[t];
      if (stale_left > 0 && current[t] != previous[t] && rng.Below(100) == 0) {
        v = previous[t];  // a stale read
        --stale_left;
        line += ",\"value\":" + value_json(v);
      } else {
        line += ",\"value\":" + value_json(v) + ",\"version\":" + std::to_string(version[t]);
      }
    }
    line += ",\"time\":" + std::to_string(time) + "}\n";
    std::fputs(line.c_str(), stdout);
  }
  return 0;
}
