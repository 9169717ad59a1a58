#include <gtest/gtest.h>

#include "core/address.h"

namespace token {
namespace {

TEST(Address, AcceptsIpv4AndBracketedIpv6) {
  auto a = ParseAddress("127.0.0.1:50051");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 50051);
  auto b = ParseAddress("[::1]:1");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 1);
  EXPECT_TRUE(ParseAddress("255.255.255.255:65535").ok());
}

TEST(Address, RejectsMalformed) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", ":50051", "localhost:50051", "127.0.0.1:port", "127.0.0:1",
        "127.0.0.1.5:1", "256.0.0.1:1", "127.0.0.01:1", "127.0.0.1:050051", "127.0.0.1:-1",
        "[::1:1", "[zz::1]:1", "127.0.0.1:5 ", " 127.0.0.1:5"}) {
    auto a = ParseAddress(bad);
    EXPECT_FALSE(a.ok()) << "'" << bad << "' was accepted";
    if (!a.ok()) {
      EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(Address, RejectsPortOutOfRange) {
  for (const char* bad : {"127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999999999999999999"}) {
    auto a = ParseAddress(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_NE(a.status().message().find("out of range"), std::string::npos)
        << a.status().ToString();
  }
}

}  // namespace
}  // namespace token
