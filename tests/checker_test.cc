// The checker: each rule on hand-written histories, bad input, and agreement with a
// brute-force reference on random small histories.
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "harness/uniform_pick.h"

#include <fmt/format.h>

#include "checker/history.h"
#include "checker/json_escape.h"
#include "checker/linearizability.h"
#include "checker/report.h"
#include "support/brute_force_checker.h"
#include "support/random_intervals.h"
#include "support/scratch_path.h"

namespace checker {
namespace {

using tokensim::Pick;

// A tiny DSL for histories: one event per call, rendered as JSON Lines.
class Builder {
 public:
  Builder& Invoke(int p, const char* f, const char* value = nullptr, const char* token = "t") {
    Add(p, "invoke", f, token, value, -1);
    return *this;
  }
  Builder& Ok(int p, const char* f, const char* value, long version = -1, const char* token = "t") {
    Add(p, "ok", f, token, value ? value : "null", version);
    return *this;
  }
  Builder& Done(int p, const char* type, const char* f, const char* token = "t") {
    Add(p, type, f, token, nullptr, -1);
    return *this;
  }
  std::string text() const { return text_; }

 private:
  void Add(int p, const char* type, const char* f, const char* token, const char* value,
           long version) {
    std::string v;
    if (value) {
      v = std::string(value) == "null" ? ",\"value\":null"
                                       : fmt::format(",\"value\":{{\"name\":\"{}\"}}", value);
    }
    std::string ver = version >= 0 ? fmt::format(",\"version\":{}", version) : "";
    text_ += fmt::format(
        "{{\"process\":{},\"type\":\"{}\",\"f\":\"{}\",\"token\":\"{}\"{}{},"
        "\"time\":{}}}\n",
        p, type, f, token, v, ver, time_ += 10);
  }
  std::string text_;
  long time_ = 0;
};

Report Check(const std::string& text, CheckOptions options = {}) {
  ParseResult r = ParseHistoryString(text);
  EXPECT_FALSE(r.error) << r.error->line << ": " << r.error->message;
  if (r.error) return {};
  return CheckHistory(*r.history, options);
}

TEST(Checker, SequentialHistoryIsLinearizable) {
  auto text = Builder()
                  .Invoke(0, "read")
                  .Ok(0, "read", nullptr, 0)
                  .Invoke(0, "write", "a")
                  .Ok(0, "write", "a", 1)
                  .Invoke(1, "read")
                  .Ok(1, "read", "a", 1)
                  .Invoke(0, "write", "b")
                  .Ok(0, "write", "b", 2)
                  .Invoke(1, "read")
                  .Ok(1, "read", "b", 2)
                  .text();
  Report r = Check(text);
  EXPECT_EQ(r.overall, Verdict::kLinearizable) << FormatReportText(r);
  EXPECT_TRUE(r.tokens[0].version_checked);
  EXPECT_EQ(ExitCodeOf(r), 0);
}

TEST(Checker, StaleRead) {
  auto text = Builder()
                  .Invoke(0, "write", "a")
                  .Ok(0, "write", "a")
                  .Invoke(1, "read")
                  .Ok(1, "read", nullptr)  // line 4: initial after a
                  .text();
  Report r = Check(text);
  ASSERT_EQ(r.overall, Verdict::kViolation);
  EXPECT_EQ(r.tokens[0].rule, Rule::kStaleRead) << FormatReportText(r);
  EXPECT_EQ(r.tokens[0].lines, (std::vector<std::uint64_t>{2, 4}));
  EXPECT_EQ(ExitCodeOf(r), 1);
}

TEST(Checker, NewOldInversion) {
  // a write of b is in flight; one read sees b, a later read sees a.
  auto text = Builder()
                  .Invoke(0, "write", "a")
                  .Ok(0, "write", "a")      // 1-2
                  .Invoke(0, "write", "b")  // 3 (never finishes)
                  .Invoke(1, "read")
                  .Ok(1, "read", "b")  // 4-5
                  .Invoke(2, "read")
                  .Ok(2, "read", "a")  // 6-7
                  .text();
  Report r = Check(text);
  ASSERT_EQ(r.overall, Verdict::kViolation);
  EXPECT_EQ(r.tokens[0].rule, Rule::kNewOldInversion) << FormatReportText(r);
  EXPECT_NE(std::find(r.tokens[0].lines.begin(), r.tokens[0].lines.end(), 5u),
            r.tokens[0].lines.end());
  EXPECT_NE(std::find(r.tokens[0].lines.begin(), r.tokens[0].lines.end(), 7u),
            r.tokens[0].lines.end());
}

TEST(Checker, ReadOfAValueNeverWritten) {
  auto text = Builder().Invoke(1, "read").Ok(1, "read", "ghost").text();
  Report r = Check(text);
  ASSERT_EQ(r.overall, Verdict::kViolation);
  EXPECT_EQ(r.tokens[0].rule, Rule::kValueNeverWritten);
  // A failed write's value is never written either.
  auto failed = Builder()
                    .Invoke(0, "write", "f")
                    .Done(0, "fail", "write")
                    .Invoke(1, "read")
                    .Ok(1, "read", "f")
                    .text();
  r = Check(failed);
  ASSERT_EQ(r.overall, Verdict::kViolation);
  EXPECT_EQ(r.tokens[0].rule, Rule::kValueNeverWritten);
  EXPECT_NE(r.tokens[0].explanation.find("failed write at line 2"), std::string::npos)
      << r.tokens[0].explanation;
}

TEST(Checker, ReadFromTheFuture) {
  auto text = Builder()
                  .Invoke(1, "read")
                  .Ok(1, "read", "a")
                  .Invoke(0, "write", "a")
                  .Ok(0, "write", "a")
                  .text();
  Report r = Check(text);
  ASSERT_EQ(r.overall, Verdict::kViolation);
  EXPECT_EQ(r.tokens[0].rule, Rule::kReadFromFuture);
  EXPECT_EQ(r.tokens[0].lines, (std::vector<std::uint64_t>{2, 4}));
}

TEST(Checker, InfoWriteMayTakeEffectLaterOrNever) {
  // Never read: fine. Read much later: fine (it may take effect at any later time).
  auto never = Builder()
                   .Invoke(0, "write", "a")
                   .Done(0, "info", "write")
                   .Invoke(1, "read")
                   .Ok(1, "read", nullptr)
                   .text();
  EXPECT_EQ(Check(never).overall, Verdict::kLinearizable);
  auto later = Builder()
                   .Invoke(0, "write", "a")
                   .Done(0, "info", "write")
                   .Invoke(1, "read")
                   .Ok(1, "read", nullptr)
                   .Invoke(1, "read")
                   .Ok(1, "read", "a")
                   .text();
  EXPECT_EQ(Check(later).overall, Verdict::kLinearizable);
  // But once seen, it cannot be unseen.
  auto flip = Builder()
                  .Invoke(0, "write", "a")
                  .Done(0, "info", "write")
                  .Invoke(1, "read")
                  .Ok(1, "read", "a")
                  .Invoke(1, "read")
                  .Ok(1, "read", nullptr)
                  .text();
  EXPECT_EQ(Check(flip).overall, Verdict::kViolation);
}

TEST(Checker, PendingReadsCarryNoInformation) {
  auto text = Builder()
                  .Invoke(0, "write", "a")
                  .Ok(0, "write", "a")
                  .Invoke(1, "read")
                  .Done(1, "info", "read")
                  .Invoke(2, "read")  // never completes
                  .text();
  EXPECT_EQ(Check(text).overall, Verdict::kLinearizable);
}

// Values linearize (b then a is possible), but versions say a(1) < b(2) and the later
// read reports version 1 after a read of version 2 finished.
std::string BrokenOnlyByVersions() {
  return Builder()
      .Invoke(0, "write", "a")
      .Invoke(2, "write", "b")
      .Ok(0, "write", "a", 1)
      .Ok(2, "write", "b", 2)
      .Invoke(1, "read")
      .Ok(1, "read", "a", 1)
      .text();
}

TEST(Checker, VersionOrderIsStricterThanLinearizability) {
  const std::string text = BrokenOnlyByVersions();
  EXPECT_EQ(Check(text, CheckOptions{false, {}}).overall, Verdict::kLinearizable);
  Report r = Check(text);
  ASSERT_EQ(r.overall, Verdict::kViolation);
  EXPECT_EQ(r.tokens[0].rule, Rule::kStaleRead) << FormatReportText(r);
}

TEST(Checker, ChecksOnSeveralThreadsGiveTheSameReport) {
  // parallel_from 0 checks every token's version order on a second thread while the zone
  // method runs, and the tokens the zone method decides on several threads; SIZE_MAX does
  // neither. Both must give the same report, violation or not.
  struct Case {
    std::string text;
    Verdict overall;
    std::vector<Verdict> tokens;  // each token's verdict, in order
  };
  const Case cases[] = {
      // zones linearizable, version order broken
      {BrokenOnlyByVersions(), Verdict::kViolation, {Verdict::kViolation}},
      // a stale read: the zones find it
      {Builder()
           .Invoke(0, "write", "a")
           .Ok(0, "write", "a", 1)
           .Invoke(0, "write", "b")
           .Ok(0, "write", "b", 2)
           .Invoke(1, "read")
           .Ok(1, "read", "a", 1)
           .text(),
       Verdict::kViolation,
       {Verdict::kViolation}},
      // linearizable, versions in order, two tokens
      {Builder()
           .Invoke(0, "write", "a")
           .Ok(0, "write", "a", 1)
           .Invoke(1, "read", nullptr, "u")
           .Ok(1, "read", nullptr, 0, "u")
           .Invoke(1, "read")
           .Ok(1, "read", "a", 1)
           .text(),
       Verdict::kLinearizable,
       {Verdict::kLinearizable, Verdict::kLinearizable}},
      // three tokens: one searched (a value written twice), one with a stale read, one fine
      {Builder()
           .Invoke(0, "write", "a", "s")
           .Ok(0, "write", "a", -1, "s")
           .Invoke(0, "write", "a", "s")
           .Ok(0, "write", "a", -1, "s")
           .Invoke(1, "write", "a", "z")
           .Ok(1, "write", "a", 1, "z")
           .Invoke(1, "write", "b", "z")
           .Ok(1, "write", "b", 2, "z")
           .Invoke(2, "read", nullptr, "z")
           .Ok(2, "read", "a", 1, "z")
           .Invoke(3, "write", "c", "f")
           .Ok(3, "write", "c", 1, "f")
           .text(),
       Verdict::kViolation,
       {Verdict::kLinearizable, Verdict::kViolation, Verdict::kLinearizable}},
  };
  for (const Case& c : cases) {
    CheckOptions beside;
    beside.parallel_from = 0;
    CheckOptions after;
    after.parallel_from = SIZE_MAX;
    Report a = Check(c.text, beside);
    Report b = Check(c.text, after);
    for (Report* r : {&a, &b}) {
      for (TokenVerdict& t : r->tokens) t.search.seconds = 0;  // the one thing that may differ
    }
    EXPECT_EQ(FormatReportJson(a), FormatReportJson(b)) << c.text;
    EXPECT_EQ(a.overall, c.overall) << c.text;
    ASSERT_EQ(a.tokens.size(), c.tokens.size()) << c.text;
    for (std::size_t i = 0; i < c.tokens.size(); ++i) {
      EXPECT_EQ(a.tokens[i].verdict, c.tokens[i]) << c.text << " token " << i;
    }
  }
}

TEST(Checker, VersionMismatchAndDuplicateVersions) {
  auto mismatch = Builder()
                      .Invoke(0, "write", "a")
                      .Ok(0, "write", "a", 1)
                      .Invoke(1, "read")
                      .Ok(1, "read", "a", 2)
                      .Invoke(0, "write", "b")
                      .Ok(0, "write", "b", 2)
                      .text();
  Report r = Check(mismatch);
  ASSERT_EQ(r.overall, Verdict::kViolation);
  EXPECT_EQ(r.tokens[0].rule, Rule::kValueNeverWritten) << FormatReportText(r);
  auto dup = Builder()
                 .Invoke(0, "write", "a")
                 .Ok(0, "write", "a", 1)
                 .Invoke(0, "write", "b")
                 .Ok(0, "write", "b", 1)
                 .text();
  r = Check(dup);
  ASSERT_EQ(r.overall, Verdict::kViolation);
  EXPECT_EQ(r.tokens[0].rule, Rule::kWriteOrder);
}

TEST(Checker, TokensAreCheckedSeparately) {
  auto text = Builder()
                  .Invoke(0, "write", "a", "x")
                  .Ok(0, "write", "a", -1, "x")
                  .Invoke(1, "read", nullptr, "y")
                  .Ok(1, "read", nullptr, -1, "y")
                  .text();
  Report r = Check(text);
  EXPECT_EQ(r.overall, Verdict::kLinearizable) << FormatReportText(r);
  EXPECT_EQ(r.tokens.size(), 2u);
}

TEST(Checker, NonUniqueValuesUseTheSearch) {
  // Writes a, b, a in sequence, then a read: "a" fits the last write, "b" is stale.
  auto history = [](const char* read_value) {
    return Builder()
        .Invoke(0, "write", "a")
        .Ok(0, "write", "a")
        .Invoke(0, "write", "b")
        .Ok(0, "write", "b")
        .Invoke(0, "write", "a")
        .Ok(0, "write", "a")
        .Invoke(1, "read")
        .Ok(1, "read", read_value)
        .text();
  };
  EXPECT_EQ(Check(history("a")).overall, Verdict::kLinearizable);
  Report r = Check(history("b"));
  ASSERT_EQ(r.overall, Verdict::kViolation);
  EXPECT_EQ(r.tokens[0].rule, Rule::kStaleRead) << FormatReportText(r);
  EXPECT_EQ(r.tokens[0].method, Method::kSearch);
  // Two concurrent writes (a, b) after an earlier a, then reads a, b, a one after the
  // other: no stale read by itself, but no order either (only the search sees it).
  auto inversion = [](Builder& b) -> Builder& {
    return b.Invoke(0, "write", "a")
        .Invoke(1, "write", "b")
        .Ok(0, "write", "a")
        .Ok(1, "write", "b")
        .Invoke(2, "read")
        .Ok(2, "read", "a")
        .Invoke(2, "read")
        .Ok(2, "read", "b")
        .Invoke(2, "read")
        .Ok(2, "read", "a");
  };
  Builder small;
  small.Invoke(0, "write", "a").Ok(0, "write", "a");
  r = Check(inversion(small).text());
  ASSERT_EQ(r.overall, Verdict::kViolation) << FormatReportText(r);
  EXPECT_EQ(r.tokens[0].rule, Rule::kNoLinearization);
  // Beyond the old limit of 64 operations: decided, not "cannot decide".
  Builder big;
  for (int i = 0; i < 40; ++i)
    big.Invoke(0, "write", i % 2 ? "a" : "b").Ok(0, "write", i % 2 ? "a" : "b");
  for (int i = 0; i < 30; ++i) big.Invoke(1, "read").Ok(1, "read", "a");
  r = Check(big.text());
  EXPECT_EQ(r.overall, Verdict::kLinearizable) << FormatReportText(r);
  EXPECT_EQ(r.tokens[0].method, Method::kSearch);
  EXPECT_TRUE(r.tokens[0].search.ran);
  // Rounds of 12 concurrent writes, then the inversion: the search must explore every
  // order of every round. With a budget of (almost) no time: a clear "cannot decide".
  Builder wide;
  for (int round = 0; round < 400; ++round) {
    for (int i = 0; i < 12; ++i) wide.Invoke(10 + i, "write", i % 2 ? "a" : "b");
    for (int i = 0; i < 12; ++i) wide.Ok(10 + i, "write", i % 2 ? "a" : "b");
  }
  const std::string wide_text = inversion(wide).text();
  CheckOptions tight;
  tight.budget.seconds = 0;
  r = Check(wide_text, tight);
  EXPECT_EQ(r.overall, Verdict::kCannotDecide) << FormatReportText(r);
  EXPECT_NE(r.tokens[0].explanation.find("time budget"), std::string::npos)
      << r.tokens[0].explanation;
  EXPECT_EQ(ExitCodeOf(r), 2);
  // ... and of (almost) no memory.
  CheckOptions small_memory;
  small_memory.budget.memory_bytes = 1 << 20;
  r = Check(wide_text, small_memory);
  EXPECT_EQ(r.overall, Verdict::kCannotDecide) << FormatReportText(r);
  EXPECT_NE(r.tokens[0].explanation.find("memory budget"), std::string::npos)
      << r.tokens[0].explanation;
}

TEST(Checker, ValueSpellingDoesNotMatter) {
  const std::string text =
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"token\":\"t\",\"value\":"
      "{\"name\":\"a\",\"low\":1},\"time\":1}\n"
      "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"token\":\"t\",\"time\":2}\n"
      "{\"time\":3,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\"}\n"
      "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"token\":\"t\",\"value\":"
      "{ \"low\" : 1 , \"name\" : \"a\" },\"time\":4,\"node\":\"x\"}\n";
  EXPECT_EQ(Check(text).overall, Verdict::kLinearizable);
}

struct BadInput {
  const char* what;
  const char* text;
  std::uint64_t line;
  const char* expect;
};

class CheckerBadInput : public ::testing::TestWithParam<BadInput> {};
void PrintTo(const BadInput& b, std::ostream* os) { *os << b.what; }

TEST_P(CheckerBadInput, NamesTheLine) {
  ParseResult r = ParseHistoryString(GetParam().text);
  ASSERT_TRUE(r.error.has_value()) << GetParam().what;
  EXPECT_EQ(r.error->line, GetParam().line);
  EXPECT_NE(r.error->message.find(GetParam().expect), std::string::npos) << r.error->message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CheckerBadInput,
    ::testing::Values(
        BadInput{"not json", "nonsense\n", 1, "not a JSON object"},
        BadInput{"missing process",
                 "{\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\",\"time\":1}\n", 1,
                 "missing field 'process'"},
        BadInput{"missing time",
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\"}\n", 1,
                 "missing field 'time'"},
        BadInput{"bad type",
                 "{\"process\":0,\"type\":\"start\",\"f\":\"read\",\"token\":\"t\",\"time\":1}\n",
                 1, "unknown type 'start'"},
        BadInput{"bad f",
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"token\":\"t\",\"time\":1}\n",
                 1, "unknown f 'cas'"},
        BadInput{"double invoke",
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\",\"time\":1}\n"
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\",\"time\":2}\n",
                 2, "still outstanding"},
        BadInput{"completion without invoke",
                 "\n{\"process\":3,\"type\":\"ok\",\"f\":\"read\",\"token\":\"t\",\"value\":null,"
                 "\"time\":1}\n",
                 2, "never invoked"},
        BadInput{"time goes backwards",
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\",\"time\":5}\n"
                 "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"token\":\"t\",\"value\":null,"
                 "\"time\":4}\n",
                 2, "goes backwards"},
        BadInput{"write without value",
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"token\":\"t\",\"time\":5}\n",
                 1, "needs its 'value'"},
        BadInput{"value not an object",
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"token\":\"t\",\"value\":3,"
                 "\"time\":5}\n",
                 1, "must be an object or null"},
        BadInput{"mismatched completion",
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\",\"time\":5}\n"
                 "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"token\":\"u\",\"value\":null,"
                 "\"time\":6}\n",
                 2, "does not match"}),
    [](const ::testing::TestParamInfo<BadInput>& param_info) {
      std::string name = param_info.param.what;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

// ---- agreement with the brute-force reference ------------------------------------------

// Random small histories: a linearizable execution (linearization points, then intervals
// around them, reads returning the current value), perturbed half the time: a read's value
// swapped, a read's interval moved, an operation left pending.
std::string RandomHistory() {
  testing::RandomIntervals plan;
  std::string current = "null";
  int written = 0;
  for (int i = 0; i < plan.ops(); ++i) {
    const bool write = Pick(0, 3) == 0;
    testing::RandomIntervals::Slot slot;
    if (!plan.Next(true, &slot)) continue;
    std::string value;
    if (write) {
      value = fmt::format("{{\"name\":\"v{}\"}}", written++);
      current = value;
    } else {
      value = current;
      if (plan.perturb() && Pick(0, 4) != 0) {
        const int pick = Pick(-1, written + 1);  // -1: initial; written: unwritten
        value = pick < 0 ? "null" : fmt::format("{{\"name\":\"v{}\"}}", pick);
      }
    }
    const char* f = write ? "write" : "read";
    plan.Add(slot.invoke,
             fmt::format("{{\"process\":{},\"type\":\"invoke\",\"f\":\"{}\",\"token\":\"t\"{},"
                         "\"time\":{}}}",
                         slot.process, f, write ? ",\"value\":" + value : "", slot.invoke));
    if (slot.never) continue;
    const std::string v = (write || !slot.info) ? ",\"value\":" + value : "";
    plan.Add(slot.end,
             fmt::format("{{\"process\":{},\"type\":\"{}\",\"f\":\"{}\",\"token\":\"t\"{},"
                         "\"time\":{}}}",
                         slot.process, slot.info ? "info" : "ok", f, v, slot.end));
  }
  return plan.Text();
}

RC_GTEST_PROP(CheckerProperty, ZonesAgreeWithBruteForce, ()) {
  const std::string text = RandomHistory();
  ParseResult r = ParseHistoryString(text);
  if (r.error) {
    RC_FAIL(fmt::format("generator produced bad input at line {}: {}\n{}", r.error->line,
                        r.error->message, text));
  }
  const TokenHistory& token = r.history->tokens.at(0);
  const bool expected = testing::BruteForceLinearizable(token);
  const TokenVerdict zones = CheckZones(*r.history, token);
  const TokenVerdict exact = CheckSearch(*r.history, token);
  RC_CLASSIFY(expected, "linearizable");
  RC_CLASSIFY(!expected, "not linearizable");
  if ((zones.verdict == Verdict::kLinearizable) != expected ||
      (exact.verdict == Verdict::kLinearizable) != expected) {
    RC_FAIL(fmt::format("brute force says {}, zones say {} ({}), exact says {}\n{}",
                        expected ? "linearizable" : "violation", VerdictName(zones.verdict),
                        zones.explanation, VerdictName(exact.verdict), text));
  }
}

}  // namespace
}  // namespace checker

namespace checker {
namespace {

TEST(CheckerFiles, MissingFileAndDirectoryAreClearErrors) {
  ParseResult missing = ReadHistoryFile("/nonexistent/history.jsonl");
  ASSERT_TRUE(missing.error);
  EXPECT_NE(missing.error->message.find("cannot open '/nonexistent/history.jsonl'"),
            std::string::npos);
  ParseResult dir = ReadHistoryFile(::testing::TempDir());
  ASSERT_TRUE(dir.error);
  EXPECT_NE(dir.error->message.find("is a directory"), std::string::npos);
}

TEST(CheckerFiles, ReadsAFileWhoseLastLineHasNoNewline) {
  const std::string path = token::testing::ScratchPath("checker_last_line", ".jsonl");
  {
    std::ofstream out(path);
    out << "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"token\":\"t\",\"time\":1}\n"
        << "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"token\":\"t\",\"value\":null,\"time\":"
           "2}";
  }
  ParseResult r = ReadHistoryFile(path);
  std::remove(path.c_str());
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.history->tokens.at(0).ops.size(), 1u);
  EXPECT_EQ(r.history->tokens[0].ops[0].outcome, Outcome::kOk);
}

}  // namespace
}  // namespace checker

namespace checker {
namespace {
// Histories written with JsonEscape parse back to the same text, control characters
// included (tokenload records servers' error messages this way).
TEST(JsonEscape, RoundTripsThroughTheHistoryReader) {
  const std::string token = std::string("a\"b\\c\nd\te") + '\x01';
  const std::string line =
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"token\":" + JsonQuote(token) +
      ",\"time\":1}\n";
  ParseResult parsed = ParseHistoryString(line);
  ASSERT_TRUE(parsed.history) << parsed.error->message;
  ASSERT_EQ(parsed.history->tokens.size(), 1u);
  EXPECT_EQ(parsed.history->tokens[0].token, token);
  EXPECT_EQ(JsonEscape("\n\x1f"), "\\n\\u001f");
}
}  // namespace
}  // namespace checker
