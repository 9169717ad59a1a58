// Token semantics against tests/data/token_hash_vectors.json and a naive reference.
// OpenSSL's bare compression is the reference of the two-lane one (deprecated in OpenSSL 3).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <random>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <nlohmann/json.hpp>

#include "core/sha256_x2.h"
#include "core/token.h"
#include "core/token_hash.h"

namespace token {
namespace {

nlohmann::json Golden() {
  const char* env = std::getenv("TOKEN_GOLDEN_DIR");
  const std::string dir = env ? env : TOKEN_GOLDEN_DIR;
  std::ifstream in(dir + "/token_hash_vectors.json");
  EXPECT_TRUE(in.good()) << "cannot open " << dir << "/token_hash_vectors.json";
  return nlohmann::json::parse(in);
}

std::optional<HashPoint> PointOf(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  return HashPoint{j.at("x").get<std::uint64_t>(), j.at("hash").get<std::uint64_t>()};
}

// Naive reference: evaluates every point with the one-shot hash.
std::optional<HashPoint> NaiveArgmin(const std::string& name, std::uint64_t from,
                                     std::uint64_t to) {
  std::optional<HashPoint> best;
  for (std::uint64_t x = from; x < to; ++x) {
    HashPoint p{x, TokenHash(name, x)};
    if (!best || Beats(p, *best)) best = p;
  }
  return best;
}

TEST(TokenHash, GoldenHashes) {
  const auto golden = Golden();
  ASSERT_GE(golden.at("hashes").size(), 10u);
  for (const auto& h : golden.at("hashes")) {
    const auto name = h.at("name").get<std::string>();
    const auto x = h.at("nonce").get<std::uint64_t>();
    EXPECT_EQ(TokenHash(name, x), h.at("hash").get<std::uint64_t>()) << name << " " << x;
    EXPECT_EQ(TokenHasher(name).Hash(x), h.at("hash").get<std::uint64_t>()) << name << " " << x;
  }
}

TEST(TokenHash, GoldenTokens) {
  const auto golden = Golden();
  ASSERT_GE(golden.at("tokens").size(), 5u);
  for (const auto& t : golden.at("tokens")) {
    Domain d{t.at("name").get<std::string>(), t.at("low").get<std::uint64_t>(),
             t.at("mid").get<std::uint64_t>(), t.at("high").get<std::uint64_t>()};
    ASSERT_TRUE(ValidateDomain(d).ok());
    const TokenData data = ComputeTokenData(d);
    EXPECT_EQ(data.partial, PointOf(t.at("partial"))) << d.name << " " << d.low;
    EXPECT_EQ(ComputeFinal(data), PointOf(t.at("final"))) << d.name << " " << d.low;
  }
}

TEST(TokenHash, TranscriptOfTheOriginalSystem) {
  // write(abc, 5, 25, 100) -> partial x=15; read -> final x=70. The numbers come from the
  // golden file's first token, which is that transcript.
  const auto t = Golden().at("tokens").at(0);
  ASSERT_EQ(t.at("name"), "abc");
  ASSERT_EQ(t.at("low"), 5);
  ASSERT_EQ(t.at("mid"), 25);
  ASSERT_EQ(t.at("high"), 100);
  const TokenData data = ComputeTokenData(Domain{"abc", 5, 25, 100});
  ASSERT_TRUE(data.partial.has_value());
  EXPECT_EQ(data.partial, PointOf(t.at("partial")));
  EXPECT_EQ(ComputeFinal(data), *PointOf(t.at("final")));
}

TEST(TokenHash, EmptyPartialRange) {
  const TokenData data = ComputeTokenData(Domain{"abc", 7, 7, 20});
  EXPECT_FALSE(data.partial.has_value());
  EXPECT_EQ(ComputeFinal(data), NaiveArgmin("abc", 7, 20));
  ArgminTask empty("abc", 7, 7);
  EXPECT_TRUE(empty.done());
  EXPECT_EQ(empty.RunToEnd(), std::nullopt);
}

TEST(TokenHash, DomainErrorsNameTheInequality) {
  Status s = ValidateDomain(Domain{"abc", 6, 5, 10});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("low (6) must be <= mid (5)"), std::string::npos) << s.ToString();
  s = ValidateDomain(Domain{"abc", 1, 10, 10});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("mid (10) must be < high (10)"), std::string::npos) << s.ToString();
  EXPECT_TRUE(ValidateDomain(Domain{"abc", 0, 0, 1}).ok());
}

TEST(TokenHash, DecimalCounterCrossesDigitBoundaries) {
  // 9 -> 10, 99 -> 100, 999 -> 1000, and a 19 -> 20 digit crossing near the top of uint64.
  for (auto [from, to] : {std::pair<std::uint64_t, std::uint64_t>{0, 1200},
                          {9999999999999999990ULL, 10000000000000000100ULL},
                          {std::numeric_limits<std::uint64_t>::max() - 50,
                           std::numeric_limits<std::uint64_t>::max()}}) {
    ArgminTask task("counter", from, to);
    // Step one point at a time and compare every evaluated point's hash indirectly through
    // the running best against the naive reference on each prefix.
    std::optional<HashPoint> naive;
    for (std::uint64_t x = from; x < to; ++x) {
      task.Step(1);
      HashPoint p{x, TokenHash("counter", x)};
      if (!naive || Beats(p, *naive)) naive = p;
      ASSERT_EQ(task.best(), naive) << "after x=" << x;
    }
    EXPECT_TRUE(task.done());
  }
}

// The argmin lays out the message's last block(s) itself: names of every length around
// SHA-256's block boundaries (the digits and padding then need one or two blocks), with
// ranges that cross a change in the number of digits.
TEST(TokenHash, ArgminAgreesForEveryNameLengthAcrossBlockBoundaries) {
  for (std::size_t n = 0; n <= 140; ++n) {
    std::string name(n, 'a');
    for (std::size_t i = 0; i < n; ++i) name[i] = static_cast<char>('a' + (i * 7 + n) % 26);
    for (auto [from, to] : {std::pair<std::uint64_t, std::uint64_t>{0, 12},
                            {95, 105},
                            {9999999999999999995ULL, 10000000000000000005ULL}}) {
      ArgminTask task(name, from, to);
      std::optional<HashPoint> naive;
      for (std::uint64_t x = from; x < to; ++x) {
        task.Step(1);
        const HashPoint p{x, TokenHash(name, x)};
        if (!naive || Beats(p, *naive)) naive = p;
        ASSERT_EQ(task.best(), naive) << "name length " << n << ", after x=" << x;
      }
      // In steps of several points, which go two at a time where the CPU can (SHA-NI).
      for (const std::uint64_t step : {std::uint64_t{2}, std::uint64_t{3}, to - from}) {
        ArgminTask chunked(name, from, to);
        while (!chunked.Step(step)) {
        }
        ASSERT_EQ(chunked.best(), naive) << "name length " << n << ", steps of " << step;
      }
    }
  }
}

// The two-lane compression against OpenSSL's one-block compression, from random states
// and blocks (only where the CPU has the SHA extensions; elsewhere it is never called).
TEST(TokenHash, TwoLaneCompressionEqualsOpenSsl) {
  if (!Sha256X2Available()) GTEST_SKIP() << "this CPU has no SHA extensions";
  std::mt19937_64 rng(7);
  for (int round = 0; round < 2000; ++round) {
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    for (auto& w : ctx.h) w = static_cast<std::uint32_t>(rng());
    unsigned char a[SHA256_CBLOCK];
    unsigned char b[SHA256_CBLOCK];
    for (auto& c : a) c = static_cast<unsigned char>(rng());
    for (auto& c : b) c = static_cast<unsigned char>(rng());
    std::uint32_t state[8];
    for (int i = 0; i < 8; ++i) state[i] = ctx.h[i];
    std::uint32_t out_a[8];
    std::uint32_t out_b[8];
    Sha256CompressX2(state, a, b, out_a, out_b);
    SHA256_CTX ref_a = ctx;
    SHA256_CTX ref_b = ctx;
    SHA256_Transform(&ref_a, a);
    SHA256_Transform(&ref_b, b);
    for (int i = 0; i < 8; ++i) {
      ASSERT_EQ(out_a[i], ref_a.h[i]) << "round " << round << ", word " << i;
      ASSERT_EQ(out_b[i], ref_b.h[i]) << "round " << round << ", word " << i;
    }
  }
}

RC_GTEST_PROP(TokenHash, ChunkedArgminEqualsNaive, ()) {
  const auto name = *rc::gen::container<std::string>(rc::gen::inRange<char>(32, 127));
  const auto from = *rc::gen::inRange<std::uint64_t>(0, 2000);
  const auto len = *rc::gen::inRange<std::uint64_t>(0, 300);
  const auto chunk = *rc::gen::inRange<std::uint64_t>(1, 64);
  ArgminTask task(name, from, from + len);
  std::size_t steps = 0;
  while (!task.Step(chunk)) ++steps;
  RC_ASSERT(steps <= len / chunk + 1);
  RC_ASSERT(task.best() == NaiveArgmin(name, from, from + len));
  RC_ASSERT(task.evaluated() == len);
}

RC_GTEST_PROP(TokenHash, FinalIsArgminOverWholeRange, ()) {
  const auto name = *rc::gen::element<std::string>("abc", "hello", "", "z");
  const auto low = *rc::gen::inRange<std::uint64_t>(0, 500);
  const auto mid = low + *rc::gen::inRange<std::uint64_t>(0, 100);
  const auto high = mid + *rc::gen::inRange<std::uint64_t>(1, 100);
  const TokenData data = ComputeTokenData(Domain{name, low, mid, high});
  RC_ASSERT(data.partial == NaiveArgmin(name, low, mid));
  RC_ASSERT(ComputeFinal(data) == *NaiveArgmin(name, low, high));
}

}  // namespace
}  // namespace token
