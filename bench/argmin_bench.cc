// Argmin throughput: hashes per second, single-threaded and with 2 threads, beside two
// references measured in the same run on messages of the same length (the token's name, a
// space, a 13-digit decimal: one SHA-256 block): the SHA-256 ceiling, OpenSSL's bare
// compression of one block with nothing else to do, and SHA-256 of each message whole
// (init, update, final). argmin / ceiling is the share of the machine's hashing the argmin
// gets; the rest is its own work (the decimal, the padding, the comparison).
//
//   ./build/bench/argmin_bench --benchmark_counters_tabular=true
//
// Each thread runs its own ArgminTask (as the nodes' worker pools do), in chunks of
// 65,536 points like a driver bounding its slices of work.
// OpenSSL 3 marks the low-level SHA256_* calls deprecated; the ceiling needs the bare
// compression function (core/token_hash.cc uses the same calls).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "core/token_hash.h"

namespace {

void BM_Argmin(benchmark::State& state) {
  const std::uint64_t chunk = 65536;
  std::uint64_t points = 0;
  std::uint64_t from = static_cast<std::uint64_t>(state.thread_index()) << 40;
  for (auto _ : state) {
    token::ArgminTask task("token manager benchmark", from, from + chunk);
    task.Step(chunk);
    benchmark::DoNotOptimize(task.best());
    points += chunk;
    from += chunk;
  }
  state.counters["hashes_per_second"] =
      benchmark::Counter(static_cast<double>(points), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Argmin)->Threads(1)->UseRealTime();
BENCHMARK(BM_Argmin)->Threads(2)->UseRealTime();

// The ceiling: the SHA-256 compression of one block (what a message as long as the
// argmin's costs, padding included), each block different (a digit changes), through
// OpenSSL's low-level call: no message handling, no padding, no digest output.
void BM_Sha256Ceiling(benchmark::State& state) {
  const std::string message = "token manager benchmark 1099511627776";
  unsigned char block[SHA256_CBLOCK] = {};
  std::memcpy(block, message.data(), message.size());
  block[message.size()] = 0x80;  // padding, then the length in bits, big-endian
  const std::uint64_t bits = message.size() * 8;
  for (int i = 0; i < 8; ++i)
    block[SHA256_CBLOCK - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  const SHA256_CTX start = ctx;
  std::uint64_t hashes = 0;
  for (auto _ : state) {
    block[message.size() - 1] = static_cast<unsigned char>('0' + hashes % 10);
    ctx = start;
    SHA256_Transform(&ctx, block);
    benchmark::DoNotOptimize(ctx);
    ++hashes;
  }
  state.counters["hashes_per_second"] =
      benchmark::Counter(static_cast<double>(hashes), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Sha256Ceiling)->Threads(1)->UseRealTime();
BENCHMARK(BM_Sha256Ceiling)->Threads(2)->UseRealTime();

// SHA-256 of each message whole, the way a program hashes without the argmin's tricks
// (init, update, final per message).
void BM_Sha256Message(benchmark::State& state) {
  std::string message = "token manager benchmark 1099511627776";
  std::uint64_t hashes = 0;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  for (auto _ : state) {
    message.back() = static_cast<char>('0' + hashes % 10);
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, message.data(), message.size());
    SHA256_Final(digest, &ctx);
    benchmark::DoNotOptimize(digest);
    ++hashes;
  }
  state.counters["hashes_per_second"] =
      benchmark::Counter(static_cast<double>(hashes), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Sha256Message)->Threads(1)->UseRealTime();

// The one-shot hash for comparison: prefix hashed every time and decimal formatted.
void BM_OneShotHash(benchmark::State& state) {
  std::uint64_t x = 0;
  for (auto _ : state) benchmark::DoNotOptimize(token::TokenHash("token manager benchmark", x++));
  state.counters["hashes_per_second"] =
      benchmark::Counter(static_cast<double>(x), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OneShotHash);

}  // namespace

BENCHMARK_MAIN();
