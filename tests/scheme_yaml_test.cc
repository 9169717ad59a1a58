// The replication scheme loader: the FORMATS.md example, and every bad case with its line.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/scheme_yaml.h"
#include "support/scratch_path.h"

namespace token {
namespace {

constexpr const char* kExample = R"(- token: 1
  writer: 127.0.0.1:50051
  readers: [127.0.0.1:50051, 127.0.0.1:50052, 127.0.0.1:50053]
- token: acct-7
  writer: 127.0.0.1:50055
  readers:
    - 127.0.0.1:50056
    - 127.0.0.1:50057
)";

TEST(SchemeYaml, LoadsTheFormatsExample) {
  auto s = ParseSchemeYaml(kExample);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->tokens().size(), 2u);
  EXPECT_EQ(s->nodes().size(), 6u);
  EXPECT_TRUE(std::is_sorted(s->nodes().begin(), s->nodes().end()));

  const TokenScheme& t1 = s->token(*s->FindToken("1"));
  EXPECT_EQ(s->node(t1.writer), "127.0.0.1:50051");
  EXPECT_EQ(t1.readers.size(), 3u);
  EXPECT_EQ(t1.replicas.size(), 3u) << "the writer is also a reader: counted once";
  EXPECT_EQ(t1.quorum, 2u);
  EXPECT_EQ(t1.line, 1);

  const TokenScheme& t2 = s->token(*s->FindToken("acct-7"));
  EXPECT_EQ(t2.replicas.size(), 3u) << "writer outside the readers joins the replica set";
  EXPECT_EQ(s->node(t2.replicas[0]), "127.0.0.1:50055");
  EXPECT_EQ(t2.quorum, 2u);
  EXPECT_TRUE(t2.IsReader(*s->FindNode("127.0.0.1:50057")));
  EXPECT_FALSE(t2.IsReader(*s->FindNode("127.0.0.1:50055")));
  EXPECT_TRUE(t2.IsReplica(*s->FindNode("127.0.0.1:50055")));
  EXPECT_FALSE(s->FindToken("2").has_value());
  EXPECT_EQ(s->TokensOf(*s->FindNode("127.0.0.1:50051")), std::vector<TokenIndex>{0});
}

TEST(SchemeYaml, TokenIdsAreStrings) {
  auto s = ParseSchemeYaml(R"(- {token: 007, writer: 127.0.0.1:1, readers: [127.0.0.1:2]}
- {token: "7", writer: 127.0.0.1:1, readers: [127.0.0.1:2]})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->FindToken("007").has_value());
  EXPECT_TRUE(s->FindToken("7").has_value());
}

struct BadCase {
  const char* what;
  const char* yaml;
  const char* expect;  // a substring of the message, including the line
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.what; }

class SchemeYamlBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(SchemeYamlBad, IsRejectedNamingTheLine) {
  const BadCase& c = GetParam();
  auto s = ParseSchemeYaml(c.yaml, "scheme.yaml");
  ASSERT_FALSE(s.ok()) << c.what << " was accepted";
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find(c.expect), std::string::npos)
      << c.what << ": message was: " << s.status().message();
  EXPECT_EQ(s.status().message().rfind("scheme.yaml: line ", 0), 0u) << s.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SchemeYamlBad,
    ::testing::Values(
        BadCase{"duplicate token",
                "- {token: 1, writer: 127.0.0.1:1, readers: [127.0.0.1:2]}\n"
                "- {token: 1, writer: 127.0.0.1:1, readers: [127.0.0.1:2]}\n",
                "line 2: duplicate token '1' (first defined at line 1)"},
        BadCase{"missing writer", "- token: 1\n  readers: [127.0.0.1:2]\n",
                "line 1: token entry '1' is missing the field 'writer'"},
        BadCase{"missing readers", "- token: 1\n  writer: 127.0.0.1:2\n",
                "line 1: token entry '1' is missing the field 'readers'"},
        BadCase{"missing token", "- writer: 127.0.0.1:2\n  readers: [127.0.0.1:2]\n",
                "line 1: token entry is missing the field 'token'"},
        BadCase{"empty reader list", "- token: 1\n  writer: 127.0.0.1:2\n  readers: []\n",
                "line 1: token '1': the reader list is empty"},
        BadCase{"null reader list", "- token: 1\n  writer: 127.0.0.1:2\n  readers:\n",
                "line 1: token '1': the reader list is empty"},
        BadCase{"malformed writer",
                "- token: 1\n  writer: localhost:50051\n  readers: [127.0.0.1:2]\n",
                "line 2: token '1': writer: malformed address 'localhost:50051'"},
        BadCase{
            "malformed reader",
            "- token: 1\n  writer: 127.0.0.1:1\n  readers:\n    - 127.0.0.1:2\n    - 127.0.0.1\n",
            "line 5: token '1': reader: malformed address '127.0.0.1'"},
        BadCase{"port out of range",
                "- token: 1\n  writer: 127.0.0.1:70000\n  readers: [127.0.0.1:2]\n",
                "line 2: token '1': writer: address '127.0.0.1:70000': port 70000 out of range"},
        BadCase{"octet out of range",
                "- token: 1\n  writer: 127.0.0.1:1\n  readers: [127.0.0.300:2]\n",
                "line 3: token '1': reader: malformed address '127.0.0.300:2'"},
        BadCase{"unknown key", "- token: 1\n  writer: 127.0.0.1:1\n  reader: [127.0.0.1:2]\n",
                "line 3: unknown key 'reader' (expected token, writer, readers)"},
        BadCase{"not a sequence", "token: 1\nwriter: 127.0.0.1:1\n",
                "line 1: the scheme must be a list of token entries"},
        BadCase{"empty file", "", "line 1: the scheme must be a list of token entries"},
        BadCase{"empty list", "[]", "line 1: the scheme lists no token"},
        BadCase{"entry not a mapping", "- 127.0.0.1:1\n",
                "line 1: a token entry must be a mapping"},
        BadCase{"readers not a list", "- token: 1\n  writer: 127.0.0.1:1\n  readers: 127.0.0.1:2\n",
                "line 3: readers must be a list of addresses"},
        BadCase{
            "reader listed twice",
            "- token: 1\n  writer: 127.0.0.1:1\n  readers:\n    - 127.0.0.1:2\n    - 127.0.0.1:2\n",
            "line 5: token '1': reader 127.0.0.1:2 is listed twice"},
        BadCase{"token is a list",
                "- token: [1, 2]\n  writer: 127.0.0.1:1\n  readers: [127.0.0.1:2]\n",
                "line 1: token must be a number or a string"},
        BadCase{"empty token id", "- token: ''\n  writer: 127.0.0.1:1\n  readers: [127.0.0.1:2]\n",
                "line 1: token id is empty"},
        BadCase{"broken YAML", "- token: 1\n  writer: [127.0.0.1:1\n", "not valid YAML"}),
    [](const ::testing::TestParamInfo<BadCase>& param_info) {
      std::string name = param_info.param.what;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

TEST(SchemeYaml, MissingFileIsNotFound) {
  auto s = LoadSchemeFile("/nonexistent/scheme.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("/nonexistent/scheme.yaml"), std::string::npos);
}

TEST(SchemeYaml, LoadsAFile) {
  const std::string path = token::testing::ScratchPath("scheme_yaml_test", ".yaml");
  {
    std::ofstream out(path);
    out << kExample;
  }
  auto s = LoadSchemeFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->tokens().size(), 2u);
}

// Every file of tests/data/bad_schemes/ is refused with the error its first line expects
// ("# expect: TEXT"), and the error names the file.
TEST(SchemeYaml, BadSchemeCorpus) {
  const std::filesystem::path dir = TOKEN_BAD_SCHEMES_DIR;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 20u) << "the corpus in " << dir << " is missing";
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    std::ifstream in(file);
    std::string first;
    std::getline(in, first);
    const std::string prefix = "# expect: ";
    ASSERT_EQ(first.rfind(prefix, 0), 0u) << "the first line must be '# expect: TEXT'";
    const std::string expected = first.substr(prefix.size());
    ASSERT_FALSE(expected.empty());
    auto s = LoadSchemeFile(file.string());
    ASSERT_FALSE(s.ok()) << "accepted";
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(expected), std::string::npos)
        << "expected '" << expected << "' in: " << s.status().message();
    EXPECT_EQ(s.status().message().rfind(file.string(), 0), 0u)
        << "the error names the file: " << s.status().message();
  }
}

// One IPv6 node cannot become several: spellings other than the canonical one are refused,
// so [::1], [0::1] and [0:0:0:0:0:0:0:1] never make three nodes.
TEST(SchemeYaml, OneIpv6NodeHasOneSpelling) {
  auto ok = ParseSchemeYaml("- token: 1\n  writer: '[::1]:5'\n  readers: ['[::1]:5', '[::1]:6']\n");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->nodes().size(), 2u);
  for (const char* other : {"[0::1]:5", "[0:0:0:0:0:0:0:1]:5", "[::0001]:5"}) {
    auto bad = ParseSchemeYaml(
        fmt::format("- token: 1\n  writer: '[::1]:5'\n  readers: ['[::1]:6', '{}']\n", other));
    ASSERT_FALSE(bad.ok()) << other;
    EXPECT_NE(bad.status().message().find("write it as [::1]"), std::string::npos)
        << bad.status().message();
  }
}

}  // namespace
}  // namespace token
