// Majority quorums of any replica set intersect: the property read-impose write-majority
// rests on.
#include <bit>
#include <cstdint>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/scheme.h"

namespace token {
namespace {

TEST(Quorum, SizesAreMajorities) {
  EXPECT_EQ(QuorumSize(1), 1u);
  EXPECT_EQ(QuorumSize(2), 2u);
  EXPECT_EQ(QuorumSize(3), 2u);
  EXPECT_EQ(QuorumSize(4), 3u);
  EXPECT_EQ(QuorumSize(5), 3u);
  EXPECT_EQ(QuorumSize(9), 5u);
}

TEST(Quorum, EveryPairOfQuorumsIntersectsExhaustively) {
  for (unsigned n = 1; n <= 9; ++n) {
    const unsigned q = static_cast<unsigned>(QuorumSize(n));
    std::vector<std::uint32_t> quorums;
    for (std::uint32_t s = 0; s < (1u << n); ++s) {
      if (static_cast<unsigned>(std::popcount(s)) >= q) quorums.push_back(s);
    }
    for (auto a : quorums) {
      for (auto b : quorums) ASSERT_NE(a & b, 0u) << "n=" << n;
    }
    // The size is the smallest that works: with one node fewer per set, the search finds
    // two disjoint "quorums" (n >= 2), so no smaller quorum size is safe.
    if (n >= 2) {
      bool disjoint_found = false;
      for (std::uint32_t a = 0; a < (1u << n) && !disjoint_found; ++a) {
        if (static_cast<unsigned>(std::popcount(a)) != q - 1) continue;
        for (std::uint32_t b = 0; b < (1u << n) && !disjoint_found; ++b) {
          disjoint_found = static_cast<unsigned>(std::popcount(b)) == q - 1 && (a & b) == 0;
        }
      }
      EXPECT_TRUE(disjoint_found) << "n=" << n << ": quorum size " << q << " is not minimal";
    }
  }
}

RC_GTEST_PROP(Quorum, AnyTwoQuorumsIntersect, ()) {
  const auto n = *rc::gen::inRange<unsigned>(1, 10);
  const auto q = QuorumSize(n);
  const auto pick = [&] {
    auto members = *rc::gen::container<std::vector<bool>>(n, rc::gen::arbitrary<bool>());
    std::size_t count = 0;
    for (bool b : members) count += b;
    RC_PRE(count >= q);
    return members;
  };
  const auto a = pick();
  const auto b = pick();
  bool meet = false;
  for (unsigned i = 0; i < n; ++i) meet = meet || (a[i] && b[i]);
  RC_ASSERT(meet);
}

}  // namespace
}  // namespace token
