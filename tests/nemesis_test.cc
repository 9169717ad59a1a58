// tokencluster's nemesis schedule (harness/nemesis.h): specs parse into ordered actions,
// and a bad spec is an error that names it.
#include <gtest/gtest.h>

#include "core/scheme_yaml.h"
#include "harness/nemesis.h"

namespace tokenapp {
namespace {

token::ReplicationScheme Scheme() {
  auto s = token::ParseSchemeYaml(R"(
- token: t
  writer: 127.0.0.1:1
  readers: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3]
)");
  TOKEN_ASSERT(s.ok(), "test scheme must parse");
  return std::move(s).value();
}

using Kind = NemesisAction::Kind;

TEST(Nemesis, RestartWipeAndKillBecomeOrderedActions) {
  auto a = ParseNemesis(
      {"restart:127.0.0.1:2@500+200", "wipe:127.0.0.1:3@100+50", "kill:127.0.0.1:1@900"}, Scheme());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const std::vector<std::tuple<std::uint64_t, Kind, token::NodeIndex>> want = {
      {100, Kind::kKill, 2}, {100, Kind::kWipe, 2},  {150, Kind::kStart, 2},
      {500, Kind::kKill, 1}, {700, Kind::kStart, 1}, {900, Kind::kKill, 0}};
  ASSERT_EQ(a->size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*a)[i].at_ms, std::get<0>(want[i])) << i;
    EXPECT_EQ((*a)[i].kind, std::get<1>(want[i])) << i;
    EXPECT_EQ((*a)[i].node, std::get<2>(want[i])) << i;
  }
}

TEST(Nemesis, RollingRestartsEveryNodeInTurn) {
  auto a = ParseNemesis({"rolling@1000+300/200"}, Scheme());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 6u);
  EXPECT_EQ((*a)[0].at_ms, 1000u);
  EXPECT_EQ((*a)[1].at_ms, 1300u);
  EXPECT_EQ((*a)[1].kind, Kind::kStart);
  EXPECT_EQ((*a)[2].at_ms, 1500u);  // 200 ms after the first came back
  EXPECT_EQ((*a)[5].at_ms, 2300u);
  EXPECT_EQ((*a)[5].node, 2u);
}

TEST(Nemesis, BadSpecsAreErrorsNamingThem) {
  const std::pair<const char*, const char*> bad[] = {
      {"restart:127.0.0.1:2@500", "restart:127.0.0.1:2@500"},  // no DOWN
      {"restart:127.0.0.1:9@5+5", "not a node of the scheme"},
      {"explode:127.0.0.1:2@5+5", "expected kill:NODE@T"},
      {"rolling@5+5", "rolling@5+5"},
      {"kill:127.0.0.1:2@-1", "-1"},
      {"kill:127.0.0.1:2@999999999999", "more than a day"},
  };
  for (const auto& [spec, says] : bad) {
    auto a = ParseNemesis({spec}, Scheme());
    ASSERT_FALSE(a.ok()) << spec;
    EXPECT_NE(a.status().message().find(says), std::string::npos) << a.status().message();
  }
  // A node killed twice without a start, or started while up.
  auto twice = ParseNemesis({"kill:127.0.0.1:2@5", "kill:127.0.0.1:2@9"}, Scheme());
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("down already"), std::string::npos);
  auto overlap = ParseNemesis({"restart:127.0.0.1:2@5+100", "restart:127.0.0.1:2@50+10"}, Scheme());
  ASSERT_FALSE(overlap.ok());
}

}  // namespace
}  // namespace tokenapp
