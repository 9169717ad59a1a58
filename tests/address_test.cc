#include <initializer_list>
#include <string_view>
#include <utility>

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

// Each text is refused INVALID_ARGUMENT by `parse` with a message holding its expectation.
void ExpectRefused(Result<Address> (*parse)(std::string_view),
                   std::initializer_list<std::pair<const char*, const char*>> cases) {
  for (const auto& [text, expected] : cases) {
    auto a = parse(text);
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(a.status().message().find(expected), std::string::npos) << a.status().ToString();
  }
}

TEST(Address, Ipv6MustBeCanonical) {
  for (const char* good : {"[::1]:1", "[fd00::1]:2", "[2001:db8::1:0:0:1]:3", "[::]:4"}) {
    EXPECT_TRUE(ParseAddress(good).ok()) << good;
  }
  ExpectRefused(ParseAddress, {
                                  {"[0::1]:1", "write it as [::1]"},
                                  {"[0:0:0:0:0:0:0:1]:1", "write it as [::1]"},
                                  {"[::0001]:1", "write it as [::1]"},
                                  {"[FD00::1]:1", "write it as [fd00::1]"},
                                  {"[2001:db8:0:0:1:0:0:1]:1", "write it as [2001:db8::1:0:0:1]"},
                                  {"[::ffff:127.0.0.1]:1", "write the node as 127.0.0.1:<port>"},
                              });
}

TEST(Address, ServerAddressAcceptsHostNamesAndChecksThePort) {
  auto a = ParseServerAddress("localhost:50051");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 50051);
  EXPECT_TRUE(ParseServerAddress("127.0.0.1:1").ok());
  EXPECT_TRUE(ParseServerAddress("[::1]:65535").ok());
  ExpectRefused(ParseServerAddress, {
                                        {"127.0.0.1:113537", "port 113537 out of range 1..65535"},
                                        {"127.0.0.1:65536", "port 65536 out of range 1..65535"},
                                        {"127.0.0.1:0", "port 0 out of range 1..65535"},
                                        {"127.0.0.1", "the port is required"},
                                        {"localhost", "the port is required"},
                                        {"[::1]", "the port is required"},
                                        {"127.0.0.1:", "is not a number"},
                                        {"host name:1", "is not an IPv4 address"},
                                        {"dns:///x:1", "is not an IPv4 address"},
                                    });
}

}  // namespace
}  // namespace token
