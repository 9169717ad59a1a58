#include "harness/campaign.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "checker/json_escape.h"

namespace tokensim {
namespace {

using checker::JsonQuote;
using token::Status;

constexpr const char* kKind = "tokensim-fuzz-shard";

std::string FailureJson(const FuzzFailure& f, std::uint64_t shard, bool with_shard) {
  return fmt::format(
      R"({{{}"case":{},"seconds":{:.3f},"reason":{},"repro":{},"report":{},"shrink_steps":{},"operations":{},"faults":{}}})",
      with_shard ? fmt::format(R"("shard":{},)", shard) : "", f.case_index, f.seconds_to_failure,
      JsonQuote(f.reason), JsonQuote(f.yaml_path), JsonQuote(f.html_path), f.shrink_steps,
      f.shrunk_operations, f.shrunk_faults);
}

// A JSON number that is a bound or null when there is none.
std::string Bound(std::uint64_t bound) {
  return bound == UINT64_MAX ? "null" : std::to_string(bound);
}

template <typename T>
T Field(const nlohmann::json& j, const char* name) {
  if (!j.is_object() || !j.contains(name)) {
    throw std::runtime_error(fmt::format("no field '{}'", name));
  }
  return j.at(name).get<T>();
}

}  // namespace

std::string ShardResultJson(const FuzzOptions& o, const FuzzResult& r) {
  std::string failures;
  for (const FuzzFailure& f : r.failures) {
    if (!failures.empty()) failures += ",";
    failures += FailureJson(f, o.shard, false);
  }
  return fmt::format(
      R"({{"kind":"{}","seed":{},"mutant":{},"shard":{},"shards":{},"cases":{},"time_limit_s":{},"cases_run":{},"elapsed_s":{:.3f},"faults_drawn":{},"failures":[{}]}})",
      kKind, o.seed, JsonQuote(token::MutantName(o.mutant)), o.shard, o.shards, Bound(o.cases),
      o.time_limit_s, r.cases_run, r.elapsed_s, r.faults_drawn, failures);
}

token::Result<Campaign> MergeShards(const std::vector<std::string>& texts,
                                    const std::vector<std::string>& sources) {
  Campaign c;
  bool first = true;
  std::set<std::uint64_t> seen;
  std::vector<std::uint64_t> runs;  // cases run per shard, by shard number
  for (std::size_t t = 0; t < texts.size(); ++t) {
    std::istringstream in(texts[t]);
    std::uint64_t line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = fmt::format("{}:{}", sources[t], line_no);
      try {
        const nlohmann::json j = nlohmann::json::parse(line);
        if (!j.is_object() || !j.contains("kind") || j.at("kind") != kKind) {
          return Status::InvalidArgument(fmt::format(
              "{}: not a tokensim fuzz shard result (no \"kind\":\"{}\")", where, kKind));
        }
        const auto seed = Field<std::uint64_t>(j, "seed");
        const auto mutant = Field<std::string>(j, "mutant");
        const auto shard = Field<std::uint64_t>(j, "shard");
        const auto shards = Field<std::uint64_t>(j, "shards");
        const std::uint64_t bound = j.contains("cases") && j.at("cases").is_null()
                                        ? UINT64_MAX
                                        : Field<std::uint64_t>(j, "cases");
        if (shards == 0 || shard >= shards) {
          return Status::InvalidArgument(
              fmt::format("{}: shard {} of {} is not a shard", where, shard, shards));
        }
        if (first) {
          c.seed = seed;
          c.mutant = mutant;
          c.shards = shards;
          c.case_bound = bound;
          runs.assign(shards, 0);
          first = false;
        } else if (seed != c.seed || mutant != c.mutant || shards != c.shards ||
                   bound != c.case_bound) {
          return Status::InvalidArgument(fmt::format(
              "{}: shard of another campaign (seed {}, protocol {}, {} shards, cases {}; the "
              "first was seed {}, protocol {}, {} shards, cases {})",
              where, seed, mutant, shards, Bound(bound), c.seed, c.mutant, c.shards,
              Bound(c.case_bound)));
        }
        if (!seen.insert(shard).second) {
          return Status::InvalidArgument(fmt::format("{}: shard {} given twice", where, shard));
        }
        runs[shard] = Field<std::uint64_t>(j, "cases_run");
        c.cases_run += runs[shard];
        c.faults_drawn += Field<std::uint64_t>(j, "faults_drawn");
        const auto elapsed = Field<double>(j, "elapsed_s");
        c.slowest_s = std::max(c.slowest_s, elapsed);
        c.summed_s += elapsed;
        for (const nlohmann::json& f : j.at("failures")) {
          FuzzFailure failure;
          failure.case_index = Field<std::uint64_t>(f, "case");
          failure.seconds_to_failure = Field<double>(f, "seconds");
          failure.reason = Field<std::string>(f, "reason");
          failure.yaml_path = Field<std::string>(f, "repro");
          failure.html_path = Field<std::string>(f, "report");
          failure.shrink_steps = Field<std::uint64_t>(f, "shrink_steps");
          failure.shrunk_operations = Field<std::uint64_t>(f, "operations");
          failure.shrunk_faults = Field<std::uint64_t>(f, "faults");
          c.failures.push_back(ShardFailure{shard, std::move(failure)});
        }
      } catch (const std::exception& e) {
        return Status::InvalidArgument(fmt::format("{}: {}", where, e.what()));
      }
    }
  }
  if (first) return Status::InvalidArgument("no shard results given");
  c.seen.assign(seen.begin(), seen.end());
  c.covered_below = c.case_bound;
  for (std::uint64_t k = 0; k < c.shards; ++k) {
    if (!seen.contains(k)) c.missing.push_back(k);
    // Shard k ran k, k+N, ..., k+N*(runs[k]-1): its first case not run is k + N*runs[k].
    // (beyond 2^64 it is past any bound: no overflow to wrap around)
    if (runs[k] <= (UINT64_MAX - k) / c.shards) {
      c.covered_below = std::min(c.covered_below, k + c.shards * runs[k]);
    }
  }
  std::sort(c.failures.begin(), c.failures.end(), [](const ShardFailure& a, const ShardFailure& b) {
    return a.failure.case_index < b.failure.case_index;
  });
  return c;
}

std::string CampaignText(const Campaign& c) {
  std::string s = fmt::format("campaign: seed {}, protocol {}, {} of {} shards", c.seed, c.mutant,
                              c.seen.size(), c.shards);
  if (!c.missing.empty()) s += fmt::format(" (missing: {})", fmt::join(c.missing, ", "));
  s += fmt::format("\ncases: {} run, every case below {} covered{}; {} faults drawn\n", c.cases_run,
                   c.covered_below, c.covered_below == c.case_bound ? " (all of them)" : "",
                   c.faults_drawn);
  s += fmt::format(
      "rate: {:.0f} cases/s for the campaign (slowest shard {:.2f} s), {:.0f} cases/s per "
      "shard on average\n",
      static_cast<double>(c.cases_run) / std::max(c.slowest_s, 1e-9), c.slowest_s,
      static_cast<double>(c.cases_run) / std::max(c.summed_s, 1e-9));
  if (c.failures.empty()) return s + "no violation\n";
  s += fmt::format("{} failing case{}:\n", c.failures.size(), c.failures.size() == 1 ? "" : "s");
  for (const ShardFailure& f : c.failures) {
    s += fmt::format("  case {} (shard {}): {}\n", f.failure.case_index, f.shard,
                     checker::TextEscape(f.failure.reason));
    s += f.failure.yaml_path.empty() ? "    (the shrunk case could not be written)\n"
                                     : fmt::format("    replay: tokensim replay {}\n",
                                                   checker::TextEscape(f.failure.yaml_path));
  }
  return s;
}

std::string CampaignJson(const Campaign& c) {
  std::string failures;
  for (const ShardFailure& f : c.failures) {
    if (!failures.empty()) failures += ",";
    failures += FailureJson(f.failure, f.shard, true);
  }
  return fmt::format(
      R"({{"seed":{},"mutant":{},"shards":{},"shards_seen":{},"missing":[{}],"cases":{},"cases_run":{},"covered_below":{},"faults_drawn":{},"slowest_s":{:.3f},"summed_s":{:.3f},"cases_per_s":{:.1f},"failures":[{}]}})",
      c.seed, JsonQuote(c.mutant), c.shards, c.seen.size(), fmt::join(c.missing, ","),
      Bound(c.case_bound), c.cases_run, c.covered_below, c.faults_drawn, c.slowest_s, c.summed_s,
      static_cast<double>(c.cases_run) / std::max(c.slowest_s, 1e-9), failures);
}

}  // namespace tokensim
