// Histories of other tools: the EDN reader, Jepsen's register histories (cas included) and
// the Jepsen log lines Porcupine's tests read; Knossos's published histories with their
// known verdicts; cas against the brute-force reference on random histories.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <fmt/format.h>

#include "checker/edn.h"
#include "checker/history_formats.h"
#include "checker/linearizability.h"
#include "checker/report.h"
#include "harness/uniform_pick.h"
#include "support/brute_force_checker.h"
#include "support/random_intervals.h"

namespace checker {
namespace {

using tokensim::Pick;

std::string Data(const std::string& relative) {
  return std::string(TOKEN_TEST_DATA_DIR) + "/" + relative;
}

Report CheckFile(const std::string& path, HistoryFormat format = HistoryFormat::kAuto) {
  ParseResult r = ReadHistoryFileAs(path, format);
  EXPECT_FALSE(r.error) << path << ":" << r.error->line << ": " << r.error->message;
  if (r.error) return {};
  return CheckHistory(*r.history);
}

// ---- EDN ---------------------------------------------------------------------------------

TEST(Edn, CanonicalTextMakesEqualValuesEqual) {
  auto canonical = [](std::string_view text) {
    edn::ReadResult r = edn::ReadAll(text);
    EXPECT_FALSE(r.error) << text;
    EXPECT_EQ(r.values.size(), 1u) << text;
    return r.values.empty() ? std::string() : edn::Canonical(r.values[0]);
  };
  EXPECT_EQ(canonical("(1 2)"), canonical("[1, 2]"));
  EXPECT_EQ(canonical("{:b 2 :a 1}"), canonical("{:a 1, :b 2}"));
  EXPECT_EQ(canonical("#{3 1 2}"), canonical("#{1 2 3}"));
  EXPECT_EQ(canonical("+5"), "5");
  EXPECT_EQ(canonical("-0"), "0");
  EXPECT_EQ(canonical("7N"), "7");
  EXPECT_NE(canonical("1"), canonical("1.0"));
  EXPECT_NE(canonical("\"a\""), canonical(":a"));
  EXPECT_EQ(canonical("\"a\\\"b\""), "\"a\\\"b\"");
  EXPECT_EQ(canonical("[1 #_ 2 3] ; comment"), "[1 3]");
  EXPECT_EQ(canonical("#inst \"2020-01-01\""), "#inst \"2020-01-01\"");
}

TEST(Edn, ErrorsNameTheirLine) {
  struct Case {
    const char* text;
    std::uint64_t line;
    const char* message;
  };
  for (const Case& c :
       {Case{"[1 2", 1, "missing ']'"}, Case{"\n\n(1 ]", 3, "unexpected ']'"},
        Case{"{:a}", 1, "key without a value"}, Case{"\"open", 1, "unterminated string"},
        Case{"\n12x", 2, "malformed number"}}) {
    edn::ReadResult r = edn::ReadAll(c.text);
    ASSERT_TRUE(r.error) << c.text;
    EXPECT_EQ(r.error->line, c.line) << c.text;
    EXPECT_NE(r.error->message.find(c.message), std::string::npos) << r.error->message;
  }
  std::string deep(200, '[');
  EXPECT_TRUE(edn::ReadAll(deep).error);  // bounded nesting, no stack overflow
}

// ---- formats -----------------------------------------------------------------------------

TEST(HistoryFormats, DetectedByTheirFirstBytes) {
  EXPECT_EQ(DetectHistoryFormat("{\"process\":0}\n"), HistoryFormat::kTokens);
  EXPECT_EQ(DetectHistoryFormat("  {:process 0, :type :invoke}"), HistoryFormat::kJepsen);
  EXPECT_EQ(DetectHistoryFormat("; comment\n[{:process 0}]"), HistoryFormat::kJepsen);
  EXPECT_EQ(DetectHistoryFormat("(\n{:process 0})"), HistoryFormat::kJepsen);
  EXPECT_EQ(DetectHistoryFormat("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"),
            HistoryFormat::kPorcupine);
  EXPECT_EQ(DetectHistoryFormat("nonsense"), HistoryFormat::kTokens);
  EXPECT_EQ(HistoryFormatFromName("porcupine"), HistoryFormat::kPorcupine);
  EXPECT_FALSE(HistoryFormatFromName("edn"));
}

TEST(HistoryFormats, JepsenIndependentKeysAreTokens) {
  const Report r = CheckFile(Data("formats/independent.edn"));
  ASSERT_EQ(r.tokens.size(), 2u) << FormatReportText(r);
  EXPECT_EQ(r.tokens[0].token, "\"x\"");
  EXPECT_EQ(r.tokens[0].verdict, Verdict::kLinearizable) << FormatReportText(r);
  EXPECT_EQ(r.tokens[1].token, "\"y\"");
  EXPECT_EQ(r.tokens[1].verdict, Verdict::kViolation) << FormatReportText(r);
  EXPECT_EQ(r.tokens[1].method, Method::kSearch);
  EXPECT_EQ(r.tokens[1].lines, std::vector<std::uint64_t>{19});
}

TEST(HistoryFormats, PorcupineLogsWithTheirMeaningOfAFailedCas) {
  const Report ok = CheckFile(Data("formats/porcupine-ok.log"));
  EXPECT_EQ(ok.overall, Verdict::kLinearizable) << FormatReportText(ok);
  // The failed cas [4 2] starts after the cas [1 4] finished: the register held 4, so it
  // could not have found another value.
  const Report bad = CheckFile(Data("formats/porcupine-bad.log"));
  ASSERT_EQ(bad.overall, Verdict::kViolation) << FormatReportText(bad);
  EXPECT_EQ(bad.tokens[0].lines, (std::vector<std::uint64_t>{9}));
  // Forced to the JSON Lines reader, the log is bad input naming its first line.
  ParseResult as_tokens =
      ReadHistoryFileAs(Data("formats/porcupine-ok.log"), HistoryFormat::kTokens);
  ASSERT_TRUE(as_tokens.error);
  EXPECT_EQ(as_tokens.error->line, 1u);
}

TEST(HistoryFormats, JepsenFailedCasDidNotTakeEffect) {
  // Jepsen's :fail means the operation did not happen: the same order of cas as in
  // porcupine-bad.log is fine here.
  const std::string text =
      "[{:process 0, :type :invoke, :f :write, :value 1}\n"
      " {:process 0, :type :ok, :f :write, :value 1}\n"
      " {:process 2, :type :invoke, :f :cas, :value [1 4]}\n"
      " {:process 2, :type :ok, :f :cas, :value [1 4]}\n"
      " {:process 3, :type :invoke, :f :cas, :value [4 2]}\n"
      " {:process 3, :type :fail, :f :cas, :value [4 2]}\n"
      " {:process 1, :type :invoke, :f :read, :value nil}\n"
      " {:process 1, :type :ok, :f :read, :value 4}]\n";
  ParseResult r = ParseHistoryAs(text, HistoryFormat::kAuto);
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(CheckHistory(*r.history).overall, Verdict::kLinearizable);
  // A read of 2 is then a violation: the only write of 2 failed.
  std::string bad = text;
  bad.replace(bad.rfind(":value 4}"), 9, ":value 2}");
  r = ParseHistoryAs(bad, HistoryFormat::kJepsen);
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(CheckHistory(*r.history).overall, Verdict::kViolation);
}

struct BadJepsen {
  const char* what;
  const char* text;
  std::uint64_t line;
  const char* expect;
};

TEST(HistoryFormats, BadJepsenInputNamesTheLine) {
  for (const BadJepsen& b : {
           BadJepsen{"not edn", "[{:process 0", 1, "not valid EDN"},
           BadJepsen{"not a map", "[1 2]", 1, "must be a map"},
           BadJepsen{"no process", "{:type :invoke, :f :read}", 1, "needs its :process"},
           BadJepsen{"bad type", "{:process 0, :type :start, :f :read}", 1, "unknown :type"},
           BadJepsen{"bad f", "\n{:process 0, :type :invoke, :f :txn, :value []}", 2,
                     "unsupported :f :txn"},
           BadJepsen{"cas value", "{:process 0, :type :invoke, :f :cas, :value 3}", 1, "[old new]"},
           BadJepsen{"no invocation", "{:process 0, :type :ok, :f :read, :value 1}", 1,
                     "no operation outstanding"},
           BadJepsen{"double invoke",
                     "{:process 0, :type :invoke, :f :read}\n{:process 0, :type :invoke, :f "
                     ":read}",
                     2, "still outstanding"},
           BadJepsen{"mismatch",
                     "{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :write, "
                     ":value 1}",
                     2, "does not match"},
           BadJepsen{"empty", "; nothing\n", 1, "no operation"},
       }) {
    ParseResult r = ParseHistoryAs(b.text, HistoryFormat::kJepsen);
    ASSERT_TRUE(r.error) << b.what;
    EXPECT_EQ(r.error->line, b.line) << b.what;
    EXPECT_NE(r.error->message.find(b.expect), std::string::npos)
        << b.what << ": " << r.error->message;
  }
  ParseResult r =
      ParseHistoryAs("INFO  jepsen.util - 0\t:invoke\t:append\t1\n", HistoryFormat::kPorcupine);
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("unsupported operation ':append'"), std::string::npos);
  r = ParseHistoryAs("hello\n", HistoryFormat::kPorcupine);
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("no operation found"), std::string::npos);
}

// ---- Knossos's histories: the folder is the verdict ---------------------------------------

TEST(Knossos, PublishedRegisterHistoriesGetTheirKnownVerdicts) {
  std::size_t checked = 0;
  for (const char* folder : {"good", "bad"}) {
    const bool good = std::string(folder) == "good";
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(Data("knossos/") + folder)) {
      if (entry.path().extension() == ".edn") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    EXPECT_GE(files.size(), 4u) << folder;
    for (const auto& file : files) {
      const Report r = CheckFile(file.string());
      EXPECT_EQ(r.overall, good ? Verdict::kLinearizable : Verdict::kViolation)
          << file << "\n"
          << FormatReportText(r);
      ++checked;
    }
  }
  EXPECT_GE(checked, 10u);
}

// ---- cas against the brute force --------------------------------------------------------

// A random Jepsen history of one register over the values 0..2 with reads, writes and cas
// (a cas that finds another value fails: :fail), from linearization points; perturbed half
// the time (read values, cas outcomes, intervals), with :info and unfinished operations.
std::string RandomCasHistory() {
  testing::RandomIntervals plan;
  int current = -1;  // -1: nil
  auto name = [](int v) { return v < 0 ? std::string("nil") : std::to_string(v); };
  for (int i = 0; i < plan.ops(); ++i) {
    const int kind = Pick(0, 3);  // 0 read, 1 write, 2 cas
    testing::RandomIntervals::Slot slot;
    if (!plan.Next(true, &slot)) continue;
    std::string f;
    std::string invoke_value = "nil";
    std::string done_value;
    bool ok = true;
    if (kind == 0) {
      f = "read";
      int v = current;
      if (plan.perturb() && Pick(0, 4) == 0) v = Pick(-1, 3);
      done_value = name(v);
    } else if (kind == 1) {
      f = "write";
      current = Pick(0, 3);
      invoke_value = done_value = name(current);
    } else {
      f = "cas";
      const int expected = Pick(0, 2) == 0 ? std::max(current, 0) : Pick(0, 3);
      const int next = Pick(0, 3);
      ok = expected == current;
      if (ok) current = next;
      if (plan.perturb() && Pick(0, 5) == 0) ok = !ok;
      invoke_value = done_value = fmt::format("[{} {}]", expected, next);
    }
    plan.Add(slot.invoke, fmt::format("{{:process {}, :type :invoke, :f :{}, :value {}}}",
                                      slot.process, f, invoke_value));
    if (slot.never) continue;
    const char* type = slot.info ? "info" : ok ? "ok" : "fail";
    plan.Add(slot.end, fmt::format("{{:process {}, :type :{}, :f :{}, :value {}}}", slot.process,
                                   type, f, kind == 0 && slot.info ? "nil" : done_value));
  }
  return "[" + plan.Text() + "]\n";
}

RC_GTEST_PROP(CheckerFormatsProperty, CasAgreesWithBruteForce, ()) {
  const std::string text = RandomCasHistory();
  ParseResult r = ParseHistoryAs(text, HistoryFormat::kAuto);
  if (r.error) {
    RC_FAIL(fmt::format("generator produced bad input at line {}: {}\n{}", r.error->line,
                        r.error->message, text));
  }
  RC_PRE(!r.history->tokens.empty());
  const TokenHistory& token = r.history->tokens[0];
  const bool expected = testing::BruteForceLinearizable(token);
  const TokenVerdict v = CheckToken(*r.history, token);
  RC_CLASSIFY(expected, "linearizable");
  if ((v.verdict == Verdict::kLinearizable) != expected) {
    RC_FAIL(fmt::format("brute force says {}, tokencheck {} by {} ({})\n{}",
                        expected ? "linearizable" : "violation", VerdictName(v.verdict),
                        MethodName(v.method), v.explanation, text));
  }
}

}  // namespace
}  // namespace checker
