// Fuzz campaigns over many machines: each shard of `tokensim fuzz --shard K/N` writes its
// result as one JSON object (ShardResultJson); `tokensim merge` reads them back and adds
// them up (MergeShards): cases run, how much of the case space is covered without a gap,
// faults drawn, failures with their repro files, and the rate. The format is in
// docs/FORMATS.md ("Fuzz campaign results").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "harness/fuzz.h"

namespace tokensim {

// One shard's result as one line of JSON (no newline).
std::string ShardResultJson(const FuzzOptions& options, const FuzzResult& result);

struct ShardFailure {
  std::uint64_t shard = 0;
  FuzzFailure failure;
};

struct Campaign {
  std::uint64_t seed = 0;
  std::string mutant;
  std::uint64_t shards = 0;         // N
  std::uint64_t case_bound = 0;     // the cases' bound (UINT64_MAX: none, a time limit)
  std::vector<std::uint64_t> seen;  // the shard numbers given, sorted
  std::vector<std::uint64_t> missing;
  std::uint64_t cases_run = 0;
  std::uint64_t covered_below = 0;  // every case index below this ran
  std::uint64_t faults_drawn = 0;
  double slowest_s = 0;                // the longest shard's wall time
  double summed_s = 0;                 // every shard's time added up
  std::vector<ShardFailure> failures;  // in case order
};

// Reads shard results: each text holds one or more JSON objects, one per line (a file
// written with --result, or the stdout of several shards run with --json). `sources`
// names each text in errors. INVALID_ARGUMENT on a malformed line, shards of different
// campaigns (seed, protocol, N, bound) or a shard given twice.
token::Result<Campaign> MergeShards(const std::vector<std::string>& texts,
                                    const std::vector<std::string>& sources);

std::string CampaignText(const Campaign& c);
std::string CampaignJson(const Campaign& c);

}  // namespace tokensim
