// The HTML report: self-contained, safe against hostile values, written only for good
// input, and, rendered in headless Chromium, marks exactly the operations of a violation,
// draws a simulated run's messages and faults, and draws every operation of a 10,000-op
// history.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "checker/history.h"
#include "checker/html_report.h"
#include "checker/linearizability.h"
#include "harness/sim_check.h"
#include "sim/scenario_yaml.h"
#include "tests/report_histories.h"

namespace {

namespace fs = std::filesystem;
using report_test::kViolatingHistory;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A scratch directory per test and process (other checkouts may run these tests at the
// same time), removed at the end. Removal ignores errors: a Chromium child that outlived
// its run may still be deleting its profile's files.
class Scratch {
 public:
  Scratch() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           fmt::format("report-{}-{}-{}", info->test_suite_name(), info->name(), ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  fs::path dir_;
};

// Runs a shell command (bounded by `timeout`), returns its exit code and stdout.
int Shell(const std::string& command, std::string* out = nullptr) {
  FILE* p = popen(command.c_str(), "r");
  if (!p) return -1;
  std::string text;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int status = pclose(p);
  if (out) *out = std::move(text);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Chromium in headless mode with a fresh profile; every run bounded to 90 s.
std::string Chromium(const Scratch& scratch, const std::string& args) {
  static int profile = 0;
  return fmt::format(
      "timeout -k 5 90 {} --headless --no-sandbox --disable-gpu --no-first-run "
      "--user-data-dir={} --window-size=1400,900 {} 2>/dev/null",
      TOKEN_CHROMIUM, scratch.Path("profile" + std::to_string(profile++)), args);
}

std::string DumpDom(const Scratch& scratch, const std::string& html_path) {
  std::string dom;
  const int rc = Shell(Chromium(scratch, "--dump-dom file://" + html_path), &dom);
  EXPECT_EQ(rc, 0) << "chromium failed on " << html_path;
  return dom;
}

struct DrawnOp {
  std::string token;
  std::uint64_t line = 0;
  bool violation = false;
};

// Every drawn operation in a DOM dump (the contract in checker/html_report.h).
std::vector<DrawnOp> DrawnOps(const std::string& dom) {
  std::vector<DrawnOp> ops;
  static const std::regex rect(R"re(<rect class="(op[^"]*)"[^>]*>)re");
  static const std::regex line(R"re(data-line="(\d+)")re");
  static const std::regex token(R"re(data-token="([^"]*)")re");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), rect); it != std::sregex_iterator();
       ++it) {
    const std::string tag = (*it)[0];
    const std::string cls = (*it)[1];
    DrawnOp op;
    std::smatch m;
    if (std::regex_search(tag, m, line)) op.line = std::stoull(m[1]);
    if (std::regex_search(tag, m, token)) op.token = m[1];
    op.violation = (" " + cls + " ").find(" violation ") != std::string::npos;
    ops.push_back(op);
  }
  return ops;
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(HtmlReport, IsSelfContainedAndEscapesHostileValues) {
  const std::string hostile =
      R"({"process":0,"type":"invoke","f":"write","token":"</script><script>alert(1)</script>","value":{"name":"</script><img src=x>","low":0,"mid":1,"high":2},"time":5}
{"process":0,"type":"ok","f":"write","token":"</script><script>alert(1)</script>","value":{"name":"</script><img src=x>","low":0,"mid":1,"high":2},"time":9}
)";
  const checker::ParseResult parsed = checker::ParseHistoryString(hostile);
  ASSERT_TRUE(parsed.history) << parsed.error->message;
  checker::HtmlExtras extras;
  extras.title = "<b>title</b>";
  extras.history_text = hostile;
  const std::string page =
      checker::RenderHtmlReport(*parsed.history, checker::CheckHistory(*parsed.history), extras);
  // Nothing from the network: no external scripts, styles, fonts or images in the page
  // (the embedded data, a JSON string, may mention anything).
  const std::string open = R"(<script type="application/json" id="report-data">)";
  const std::size_t data_at = page.find(open);
  ASSERT_NE(data_at, std::string::npos);
  const std::size_t data_end = page.find("</script>", data_at);
  ASSERT_NE(data_end, std::string::npos);
  const std::string markup = page.substr(0, data_at) + page.substr(data_end);
  EXPECT_EQ(markup.find("src="), std::string::npos);
  EXPECT_EQ(markup.find("<link"), std::string::npos);
  EXPECT_EQ(markup.find("https:"), std::string::npos);
  EXPECT_EQ(markup.find("@import"), std::string::npos);
  EXPECT_EQ(markup.find("url(http"), std::string::npos);
  EXPECT_EQ(Count(markup, "http:"), 1u) << "only the SVG namespace URI";
  // The data cannot end its script element or inject markup.
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("<b>title"), std::string::npos);
  EXPECT_EQ(Count(page, "</script>"), 2u) << "the data and the program";
}

TEST(HtmlReport, TokencheckWritesNothingForBadInputOrAnUnwritablePath) {
  Scratch scratch;
  const std::string bad = scratch.Path("bad.jsonl");
  Spit(bad, R"({"process":0,"type":"ok","f":"read","token":"1","value":null,"time":1})"
            "\n");
  const std::string html = scratch.Path("bad.html");
  std::string out;
  EXPECT_EQ(Shell(fmt::format("{} {} --html {} 2>&1", TOKENCHECK_BIN, bad, html), &out), 2) << out;
  EXPECT_NE(out.find("never invoked"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(html));

  const std::string good = scratch.Path("good.jsonl");
  Spit(good, kViolatingHistory);
  EXPECT_EQ(Shell(fmt::format("{} {} --html {} 2>&1", TOKENCHECK_BIN, good,
                              scratch.Path("no/such/dir/r.html")),
                  &out),
            2)
      << out;
  EXPECT_NE(out.find("cannot write the HTML report"), std::string::npos) << out;
  EXPECT_EQ(Shell(fmt::format("{} {} --html 2>&1", TOKENCHECK_BIN, good), &out), 2) << out;
  EXPECT_NE(out.find("--html needs a value (FILE)"), std::string::npos) << out;
}

// The history is read once: from a pipe too, the page keeps each operation's raw lines.
TEST(HtmlReport, TokencheckKeepsRawLinesOfAHistoryReadFromAPipe) {
  Scratch scratch;
  const std::string history = scratch.Path("h.jsonl");
  Spit(history, kViolatingHistory);
  const std::string html = scratch.Path("piped.html");
  std::string out;
  ASSERT_EQ(
      Shell(fmt::format("cat {} | {} /dev/stdin --html {} 2>&1", history, TOKENCHECK_BIN, html),
            &out),
      1)
      << out;
  const std::string page = Slurp(html);
  EXPECT_NE(page.find(R"(\"type\":\"invoke\",\"f\":\"write\")"), std::string::npos)
      << "raw history lines missing from the page";
}

// The browser tests: Debian's chromium (scripts/setup.sh installs it).
TEST(HtmlReportInChromium, MarksExactlyTheViolatingOperations) {
  Scratch scratch;
  const std::string history = scratch.Path("h.jsonl");
  const std::string html = scratch.Path("report.html");
  Spit(history, kViolatingHistory);
  std::string out;
  ASSERT_EQ(Shell(fmt::format("{} {} --html {} 2>&1", TOKENCHECK_BIN, history, html), &out), 1)
      << out;
  ASSERT_TRUE(fs::exists(html));

  // What the checker says, to compare with what the page marks.
  const checker::ParseResult parsed = checker::ReadHistoryFile(history);
  ASSERT_TRUE(parsed.history);
  const checker::Report report = checker::CheckHistory(*parsed.history);
  std::set<std::uint64_t> expected;
  std::string explanation;
  for (const auto& t : report.tokens) {
    if (t.verdict != checker::Verdict::kViolation) continue;
    expected.insert(t.lines.begin(), t.lines.end());
    explanation = t.explanation;
  }
  ASSERT_EQ(expected, (std::set<std::uint64_t>{5, 7}));

  const std::string dom = DumpDom(scratch, html);
  EXPECT_NE(dom.find(R"(id="report-status")"), std::string::npos);
  EXPECT_NE(dom.find(">ready<"), std::string::npos) << "the script did not finish";
  const std::vector<DrawnOp> ops = DrawnOps(dom);
  ASSERT_EQ(ops.size(), 6u) << "every operation drawn (3 on token 1, 3 on token 2, one pending)";
  std::set<std::uint64_t> marked;
  for (const DrawnOp& op : ops) {
    if (op.violation) {
      EXPECT_EQ(op.token, "1");
      marked.insert(op.line);
    }
  }
  EXPECT_EQ(marked, expected);
  // The rule in words, with the lines.
  EXPECT_EQ(Count(dom, "class=\"violation-rule\""), 1u);
  EXPECT_NE(dom.find("new-old inversion"), std::string::npos);
  EXPECT_NE(dom.find("line 7"), std::string::npos);
  EXPECT_NE(explanation.find("line 7"), std::string::npos);
  // The pending read is drawn open-ended.
  EXPECT_NE(dom.find("op read pending"), std::string::npos);

  // Opened at #violation-1 the page zooms onto the violation: fewer operations drawn, the
  // violating ones among them.
  const std::string zoomed = DumpDom(scratch, html + "#violation-1");
  const std::vector<DrawnOp> in_view = DrawnOps(zoomed);
  std::set<std::uint64_t> marked_in_view;
  for (const DrawnOp& op : in_view) {
    if (op.violation) marked_in_view.insert(op.line);
  }
  EXPECT_EQ(marked_in_view, expected);
  EXPECT_LT(in_view.size(), ops.size());

  // The page's handlers, driven by synthetic events (#selftest): hover shows the operation,
  // the wheel zooms in, a drag moves the view, 0 fits, v jumps to the violation.
  const std::string driven = DumpDom(scratch, html + "#selftest");
  std::smatch selftest;
  ASSERT_TRUE(std::regex_search(driven, selftest, std::regex(R"re(data-selftest="([^"]*)")re")))
      << "no self-test result in the page";
  const std::string result = selftest[1];
  EXPECT_NE(result.find("read by process"), std::string::npos) << result;
  EXPECT_NE(result.find("zoomedIn&quot;:true"), std::string::npos) << result;
  EXPECT_NE(result.find("draggedLater&quot;:true"), std::string::npos) << result;
  EXPECT_NE(result.find("fitAgain&quot;:true"), std::string::npos) << result;
  EXPECT_NE(result.find("violationInView&quot;:2"), std::string::npos) << result;

  // A screenshot: a real PNG of a drawn page.
  const std::string png = scratch.Path("report.png");
  ASSERT_EQ(Shell(Chromium(scratch, "--screenshot=" + png + " file://" + html)), 0);
  const std::string image = Slurp(png);
  ASSERT_GT(image.size(), 10000u);
  EXPECT_EQ(image.substr(1, 3), "PNG");
}

TEST(HtmlReportInChromium, DrawsASimulatedRunsMessagesAndFaults) {
  Scratch scratch;
  auto loaded = sim::LoadScenarioFile(std::string(TOKEN_SCENARIOS_DIR) + "/per_token_crashes.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const sim::Scenario& s = *loaded;
  std::vector<sim::MessageRecord> messages;
  const tokensim::Judgement j = tokensim::RunAndJudge(s, nullptr, &messages);
  ASSERT_TRUE(j.history);
  ASSERT_GT(messages.size(), 0u);
  // Recording the messages does not change the run.
  EXPECT_EQ(j.run.digest, sim::RunSimulation(s).digest);
  const std::string html = scratch.Path("sim.html");
  const token::Status written = checker::WriteHtmlReport(html, *j.history, j.report,
                                                         tokensim::SimReportExtras(s, j, messages));
  ASSERT_TRUE(written.ok()) << written.ToString();
  const std::string dom = DumpDom(scratch, html);
  EXPECT_NE(dom.find(">ready<"), std::string::npos);
  // Each fault that happened is marked on its node's lane.
  std::size_t faults = 0;
  for (const sim::Fault& f : s.faults) faults += f.at_ns <= j.run.stats.end_time_ns ? 1 : 0;
  ASSERT_GT(faults, 0u);
  EXPECT_GE(Count(dom, "<g class=\"fault\""), faults);
  EXPECT_NE(dom.find("crashed for token"), std::string::npos);
  // Messages are drawn (the run is small enough to draw them all at full view).
  EXPECT_GT(Count(dom, "<path class=\"msg"), 0u);
  EXPECT_EQ(DrawnOps(dom).size(), j.run.stats.ops_invoked);
}

TEST(HtmlReportInChromium, MarksAPlantedBugsViolationAndItsMessages) {
  Scratch scratch;
  auto loaded = sim::LoadScenarioFile(std::string(TOKEN_SCENARIOS_DIR) + "/lagging_replicas.yaml");
  ASSERT_TRUE(loaded.ok());
  sim::Scenario s = *loaded;
  s.node_options.mutant = token::Mutant::kReadSkipsImpose;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    s.seed = seed;
    std::vector<sim::MessageRecord> messages;
    const tokensim::Judgement j = tokensim::RunAndJudge(s, nullptr, &messages);
    if (j.report.overall != checker::Verdict::kViolation) continue;
    const std::string html = scratch.Path("mutant.html");
    const token::Status written = checker::WriteHtmlReport(
        html, *j.history, j.report, tokensim::SimReportExtras(s, j, messages));
    ASSERT_TRUE(written.ok()) << written.ToString();
    const std::string dom = DumpDom(scratch, html);
    std::set<std::uint64_t> marked;
    for (const DrawnOp& op : DrawnOps(dom)) {
      if (op.violation) marked.insert(op.line);
    }
    const std::set<std::uint64_t> expected(j.report.tokens[0].lines.begin(),
                                           j.report.tokens[0].lines.end());
    EXPECT_EQ(marked, expected) << "seed " << seed;
    EXPECT_GT(Count(dom, "msg viol"), 0u) << "the violating operations' messages stand out";
    return;
  }
  FAIL() << "read-skips-impose survived 60 seeds of lagging_replicas";
}

TEST(HtmlReportInChromium, DrawsTenThousandOperations) {
  Scratch scratch;
  const std::string history = scratch.Path("big.jsonl");
  ASSERT_EQ(Shell(fmt::format("{} --ops 10000 --processes 16 --tokens 2 --seed 3 > {}", HISTGEN_BIN,
                              history)),
            0);
  const std::string html = scratch.Path("big.html");
  std::string out;
  ASSERT_EQ(Shell(fmt::format("{} {} --html {} 2>&1", TOKENCHECK_BIN, history, html), &out), 0)
      << out;
  const std::string dom = DumpDom(scratch, html);
  EXPECT_NE(dom.find(">ready<"), std::string::npos);
  EXPECT_EQ(DrawnOps(dom).size(), 10000u);
}

}  // namespace

namespace {

// A history whose events share one instant (one pending read) still has a scale: the page
// zooms, pans and fits.
TEST(HtmlReportInChromium, OneInstantHistoryStillZoomsAndFits) {
  Scratch scratch;
  const std::string history = scratch.Path("one.jsonl");
  Spit(history, R"({"process":0,"type":"invoke","f":"read","token":"x","time":5})"
                "\n");
  const std::string html = scratch.Path("one.html");
  std::string out;
  ASSERT_EQ(Shell(fmt::format("{} {} --html {} 2>&1", TOKENCHECK_BIN, history, html), &out), 0)
      << out;
  const std::string dom = DumpDom(scratch, html + "#selftest");
  EXPECT_EQ(DrawnOps(dom).size(), 1u);
  EXPECT_NE(dom.find("zoomedIn&quot;:true"), std::string::npos);
  EXPECT_NE(dom.find("draggedLater&quot;:true"), std::string::npos);
  EXPECT_NE(dom.find("fitAgain&quot;:true"), std::string::npos);
}

}  // namespace
