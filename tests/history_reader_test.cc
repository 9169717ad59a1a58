// The history reader gives the same history (or the same error, on the same line) however
// it reads: one chunk or many, one thread or several, each line through the plain scanner
// or through simdjson, from memory or from a file. The reference is the simplest reading:
// one chunk, one thread, simdjson for every line.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "checker/history.h"

namespace checker {
namespace {

std::string Describe(const ParseResult& r) {
  if (r.error) return fmt::format("error at line {}: {}", r.error->line, r.error->message);
  const History& h = *r.history;
  std::string out = fmt::format("lines {} events {}\n", h.lines, h.events);
  for (std::size_t v = 0; v < h.values.size(); ++v)
    out += fmt::format("value {} {}\n", v, h.values[v]);
  for (const TokenHistory& t : h.tokens) {
    out += fmt::format("token {}\n", t.token);
    for (const Operation& op : t.ops) {
      out += fmt::format("  {} {} p{} {}..{} info@{} lines {}/{} value {} version {}:{}\n",
                         op.type == OpType::kWrite ? "w" : "r", static_cast<int>(op.outcome),
                         op.process, op.invoke_time, op.complete_time, op.info_time(),
                         op.invoke_line, op.complete_line, op.value, op.has_version, op.version);
    }
    for (std::uint32_t c : t.completed) out += fmt::format("  completed {}\n", c);
  }
  return out;
}

const ParseOptions kReference{1, std::size_t{1} << 40, false};

// A file of this process's own (ctest runs tests in parallel, each in its own process).
std::string TempPath() {
  return fmt::format("{}/history_reader_test.{}.jsonl", ::testing::TempDir(), ::getpid());
}

// The ways of reading `text` among `ways` that do not describe it as the reference does;
// empty when all agree. Each way is read from memory and from a file.
std::string Mismatches(const std::string& text, const std::vector<ParseOptions>& ways) {
  const std::string expected = Describe(ParseHistoryString(text, kReference));
  const std::string path = TempPath();
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  std::string bad;
  auto compare = [&](const std::string& how, const ParseResult& r) {
    const std::string got = Describe(r);
    if (got != expected) bad += fmt::format("{}:\n{}\nexpected:\n{}\n", how, got, expected);
  };
  for (const ParseOptions& options : ways) {
    const std::string how = fmt::format("threads {} chunk {} plain {}", options.threads,
                                        options.chunk_bytes, options.plain_scanner);
    compare("memory, " + how, ParseHistoryString(text, options));
    compare("file, " + how, ReadHistoryFile(path, nullptr, options));
  }
  std::string kept;
  compare("file kept", ReadHistoryFile(path, &kept));
  if (kept != text) bad += "the kept text differs from the file\n";
  std::remove(path.c_str());
  return bad;
}

// Every combination of the given chunk sizes with 1 or 3 threads, scanner or simdjson.
std::vector<ParseOptions> EveryWay(const std::vector<std::size_t>& chunks) {
  std::vector<ParseOptions> ways;
  for (unsigned threads : {1U, 3U}) {
    for (std::size_t chunk : chunks) {
      for (bool plain : {false, true}) ways.push_back(ParseOptions{threads, chunk, plain});
    }
  }
  return ways;
}

// One line of a history in one of many spellings: the plain form the tools write, and
// every variation simdjson must decide (spaces, escapes, other key orders, nested and
// extra fields, numbers as tokens, non-ASCII, wrong types, broken JSON).
std::string Spell(int process, const char* type, const char* f, const std::string& token,
                  const std::string& value, std::int64_t time, std::int64_t version, int style) {
  std::vector<std::string> fields;
  fields.push_back(fmt::format("\"process\":{}", process));
  fields.push_back(fmt::format("\"type\":\"{}\"", type));
  fields.push_back(fmt::format("\"f\":\"{}\"", f));
  fields.push_back("\"token\":" + token);
  if (!value.empty()) fields.push_back("\"value\":" + value);
  if (version >= 0) fields.push_back(fmt::format("\"version\":{}", version));
  fields.push_back(fmt::format("\"time\":{}", time));
  switch (style) {
    case 1:  // extra fields, nested
      fields.push_back(
          R"("node":"n1","final":{"x":3,"hash":18446744073709551615,"l":[1,2,{"a":null}]},)"
          R"("big":-123456789012345678901234567890,"ok":true)");
      break;
    case 2:  // reversed key order
      std::reverse(fields.begin(), fields.end());
      break;
    case 3:  // a repeated key: the last one counts
      fields.push_back(fmt::format("\"time\":{}", time));
      break;
    case 4:  // non-ASCII and escapes in an ignored field
      fields.push_back("\"error\":\"caf\xc3\xa9 \\\"x\\\" \\u0041\"");
      break;
    case 5:  // a float where an integer belongs
      fields[0] = fmt::format("\"process\":{}.0", process);
      break;
    default:
      break;
  }
  std::string line = "{";
  const char* sep = style == 6 ? " , " : ",";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) line += sep;
    line += fields[i];
  }
  line += "}";
  if (style == 6) line = " " + line + " ";
  if (style == 7) line += "\r";
  if (style == 8) line.resize(line.size() / 2);  // broken JSON
  return line;
}

RC_GTEST_PROP(HistoryReader, SameHistoryHoweverRead, ()) {
  const int processes = *rc::gen::inRange(1, 5);
  const int steps = *rc::gen::inRange(0, 60);
  const std::vector<std::string> tokens = {"\"t0\"",       "\"t1\"",  "7",
                                           "\"t\\u0030\"", "\"x y\"", "123456789012345678901234"};
  const std::vector<std::string> values = {
      R"({"name":"v","low":0,"mid":1,"high":2})", R"({"kind":"empty"})",
      R"({ "mid" : 1, "low":0 , "name":"v","high":2})", R"({"a":{"b":[1,2]}})", "null",
      R"({"name":"caf\u00e9"})", R"({"name":"v","name":"w"})", "[1]", R"({"n":-0})",
      // Keys sharing their first 8 bytes, in no order.
      R"({"abcdefgh_b":1,"abcdefgh":2,"abcdefgh_a":3,"z":4})", R"({"abcdefgh_a":1,"abcdefgh_a":2})",
      // Near the tools' form, which the scanner writes out without sorting: one thing off.
      R"({"name":"v","low":0,"mid":1,"high":2,"x":1})", R"({"name":7,"low":0,"mid":1,"high":2})",
      R"({"name":"v","low":0,"mid":1,"high":2.5})", R"({"name":"v","low":-3,"mid":01,"high":2})",
      R"({"name":"v","low":0,"high":2,"mid":1})", R"({"name":"v","low":0,"mid":1})",
      R"({"name":"v","low":0,"mid":1,"high":99999999999999999999999})"};
  std::vector<int> busy(static_cast<std::size_t>(processes), -1);  // token index or -1
  std::vector<bool> writes(static_cast<std::size_t>(processes), false);
  std::string text;
  std::int64_t time = 0;
  for (int s = 0; s < steps; ++s) {
    const int p = *rc::gen::inRange(0, processes);
    const int style = *rc::gen::weightedElement<int>(
        {{40, 0}, {3, 1}, {3, 2}, {2, 3}, {2, 4}, {1, 5}, {2, 6}, {2, 7}, {1, 8}});
    // Times and versions of every length the scanner reads 8 digits at a time: 1 to 19
    // digits (past 18, simdjson decides).
    time += *rc::gen::weightedElement<std::int64_t>(
        {{20, 1}, {3, 0}, {1, -1}, {1, 9'999'999}, {1, 87'654'321}, {1, 123'456'789'012}});
    const std::int64_t version =
        *rc::gen::element<std::int64_t>(-1, 1, 2, 3, 10, 12'345'678, 123'456'789,
                                        999'999'999'999'999'999, 1'000'000'000'000'000'000);
    auto& b = busy[static_cast<std::size_t>(p)];
    if (*rc::gen::weightedElement<int>({{30, 0}, {1, 1}}) == 1) text += "\n";  // blank line
    if (b < 0) {
      b = *rc::gen::inRange(0, static_cast<int>(tokens.size()));
      const bool write = *rc::gen::arbitrary<bool>();
      writes[static_cast<std::size_t>(p)] = write;
      const std::string value = write ? *rc::gen::elementOf(values) : "";
      text += Spell(p, "invoke", write ? "write" : "read", tokens[static_cast<std::size_t>(b)],
                    value, time, -1, style);
    } else {
      const char* type = *rc::gen::element("ok", "ok", "ok", "fail", "info", "bogus");
      const bool write = writes[static_cast<std::size_t>(p)];
      const std::string value = *rc::gen::elementOf(values);
      text += Spell(p, type, write ? "write" : "read", tokens[static_cast<std::size_t>(b)],
                    write && *rc::gen::arbitrary<bool>() ? "" : value, time, version, style);
      b = -1;
    }
    text += "\n";
  }
  if (!text.empty() && *rc::gen::arbitrary<bool>()) text.pop_back();  // no final newline
  // Two ways drawn per case (the suite runs thousands of cases), one of them by the
  // scanner, with small chunks often so that histories are cut everywhere.
  const auto chunk = [] {
    return *rc::gen::weightedElement<std::size_t>({{4, 1}, {4, 7}, {2, 97}, {1, 4096}});
  };
  const std::vector<ParseOptions> ways = {
      ParseOptions{*rc::gen::element(1U, 3U), chunk(), true},
      ParseOptions{*rc::gen::element(1U, 3U), chunk(), *rc::gen::arbitrary<bool>()}};
  const std::string bad = Mismatches(text, ways);
  RC_ASSERT(bad == std::string());
}

TEST(HistoryReader, TheToolsFormIsReadByThePlainScanner) {
  const std::string text =
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"token\":\"t\",\"value\":{\"name\":"
      "\"a\",\"low\":0,\"mid\":1,\"high\":2},\"time\":1}\n"
      "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"token\":\"t\",\"version\":1,\"time\":2,"
      "\"node\":\"n1\"}\n"
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\",\"time\":3}\n"
      "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"token\":\"t\",\"value\":{\"name\":\"a\","
      "\"low\":0,\"mid\":1,\"high\":2},\"version\":1,\"time\":4}\n";
  const ParseResult r = ParseHistoryString(text);
  ASSERT_TRUE(r.history) << r.error->message;
  EXPECT_EQ(r.history->plain_lines, 4u);
  EXPECT_EQ(r.history->values.size(), 1u);
  EXPECT_EQ(r.history->values[0], R"({"high":2,"low":0,"mid":1,"name":"a"})");
  // The same text spaced out goes through simdjson and gives the same history.
  std::string spaced;
  for (char c : text) spaced += c == ',' ? std::string(", ") : std::string(1, c);
  const ParseResult s = ParseHistoryString(spaced);
  ASSERT_TRUE(s.history) << s.error->message;
  EXPECT_EQ(s.history->plain_lines, 0u);
  EXPECT_EQ(Describe(s), Describe(r));
}

// Text with no readable byte behind it (a caller's own buffer, no padding): the scanner,
// which reads 8 bytes at a time, scans the last line from a copy, and simdjson parses one
// too. The last line ends in a string, and its length runs through every remainder by 8:
// under AddressSanitizer a read past the buffer fails this test.
TEST(HistoryReader, TextWithoutPaddingIsReadWithinItsBounds) {
  for (std::string time = "4"; time.size() <= 8; time += '0') {
    const std::string text =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"token\":\"t\",\"value\":{"
        "\"name\":\"a\",\"low\":0},\"time\":1}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"token\":\"t\",\"time\":2}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\",\"time\":3}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"time\":" +
        time + ",\"value\":{\"low\":0,\"name\":\"a\"},\"token\":\"t\"}";
    for (const bool plain : {true, false}) {
      const std::unique_ptr<char[]> exact(new char[text.size()]);
      std::memcpy(exact.get(), text.data(), text.size());
      const ParseResult r = ParseHistory(exact.get(), text.size(), 0, ParseOptions{1, 64, plain});
      ASSERT_TRUE(r.history) << r.error->message;
      EXPECT_EQ(r.history->plain_lines, plain ? 4u : 0u);
      ASSERT_EQ(r.history->values.size(), 1u);
      EXPECT_EQ(r.history->values[0], R"({"low":0,"name":"a"})");
      ASSERT_EQ(r.history->tokens.size(), 1u);
      ASSERT_EQ(r.history->tokens[0].ops.size(), 2u);
      EXPECT_EQ(r.history->tokens[0].ops[1].value, 0);
    }
  }
}

// A line longer than a chunk, and chunks that hold no line start at all.
TEST(HistoryReader, LinesLongerThanAChunk) {
  const std::string big(100'000, 'x');
  const std::string text =
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"token\":\"t\",\"value\":{\"name\":\"" +
      big +
      "\"},\"time\":1}\n{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"token\":\"t\","
      "\"time\":2}\n";
  const ParseResult r = ParseHistoryString(text, ParseOptions{2, 1000, true});
  ASSERT_TRUE(r.history) << r.error->message;
  EXPECT_EQ(r.history->lines, 2u);
  EXPECT_EQ(r.history->tokens.at(0).ops.at(0).outcome, Outcome::kOk);
  EXPECT_EQ(Mismatches(text, EveryWay({1000, 65536})), "");
}

}  // namespace
}  // namespace checker
