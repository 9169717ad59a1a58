// The HTML report's data: the JSON the checker embeds has named fields, exactly the ones
// the page's script reads, and says what the history and the run said; and the JSON
// writer it is written with.
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "checker/history.h"
#include "checker/html_report.h"
#include "checker/json_writer.h"
#include "checker/linearizability.h"
#include "tests/report_histories.h"

namespace {

using report_test::kViolatingHistory;

// The page's data: the JSON in its report-data element.
nlohmann::json PageData(const std::string& page) {
  const std::string open = R"(<script type="application/json" id="report-data">)";
  const std::size_t at = page.find(open);
  const std::size_t end = page.find("</script>", at);
  if (at == std::string::npos || end == std::string::npos) {
    ADD_FAILURE() << "no report-data element in the page";
    return nullptr;
  }
  return nlohmann::json::parse(page.substr(at + open.size(), end - at - open.size()));
}

// The page's script: the last script element.
std::string PageScript(const std::string& page) {
  const std::size_t at = page.rfind("<script>");
  const std::size_t end = page.find("</script>", at);
  if (at == std::string::npos || end == std::string::npos) return "";
  return page.substr(at, end - at);
}

// The violating history, plus a token "3" with an unknown-outcome write and a failed read.
const std::string kEveryOutcome =
    std::string(kViolatingHistory) +
    R"({"process":5,"type":"invoke","f":"write","token":"3","value":{"name":"d","low":0,"mid":5,"high":9},"time":96000}
{"process":5,"type":"info","f":"write","token":"3","value":{"name":"d","low":0,"mid":5,"high":9},"time":96500}
{"process":6,"type":"invoke","f":"read","token":"3","time":97000}
{"process":6,"type":"fail","f":"read","token":"3","time":97500}
)";

// What a simulated run adds, by hand: nodes, each token's replicas, two messages of token
// "1" (one serving its first write, one carrying a version) and two faults (token "1" at
// one node, a whole node).
checker::HtmlExtras EveryKindOfExtra() {
  checker::HtmlExtras x;
  x.title = "every field";
  x.history_text = kEveryOutcome;
  x.simulated = true;
  x.nodes = {"n-a", "n-b", "n-c"};
  x.token_nodes = {{0, 1}, {2}, {}};
  x.labels = {"write request", "Update"};
  checker::HtmlMessage request;
  request.token = 0;
  request.from = {.node = false, .id = 0};
  request.to = {.node = true, .id = 1};
  request.sent_ns = 1000;
  request.arrives_ns = 1200;
  request.label = 0;
  request.op = std::pair<std::uint32_t, std::int64_t>{0, 1000};
  checker::HtmlMessage update;
  update.token = 0;
  update.from = {.node = true, .id = 1};
  update.to = {.node = true, .id = 0};
  update.sent_ns = 1300;
  update.arrives_ns = 1400;
  update.label = 1;
  update.version = 1;
  x.messages = {request, update};
  x.faults = {{.node = 0, .token = 0, .time_ns = 2000}, {.node = 2, .token = {}, .time_ns = 3000}};
  return x;
}

std::set<std::string> Keys(const nlohmann::json& objects) {
  std::set<std::string> keys;
  for (const auto& o : objects) {
    for (const auto& [key, value] : o.items()) keys.insert(key);
  }
  return keys;
}

// The fields the script reads through `name` (D, t, o, m, f: docs at the top of
// report.js), leaving out those it sets itself.
std::set<std::string> FieldsReadThrough(const std::string& script, const std::string& name) {
  std::string code;  // without comments
  std::istringstream lines(script);
  for (std::string line; std::getline(lines, line);) {
    const std::size_t text = line.find_first_not_of(' ');
    if (text != std::string::npos && line.compare(text, 2, "//") == 0) continue;
    code += line.substr(0, line.find("  // ")) + "\n";
  }
  std::set<std::string> read, set;
  const std::regex field("(?:^|[^\\w.$])" + name + "\\.(\\w+)(\\s*=[^=])?");
  for (auto it = std::sregex_iterator(code.begin(), code.end(), field);
       it != std::sregex_iterator(); ++it) {
    ((*it)[2].matched ? set : read).insert((*it)[1]);
  }
  for (const std::string& s : set) read.erase(s);
  return read;
}

// The page reads its data by name: every field the script reads is in the data the checker
// writes, and the data has no field the script never reads.
TEST(HtmlReportData, HasExactlyTheFieldsTheScriptReads) {
  const checker::ParseResult parsed = checker::ParseHistoryString(kEveryOutcome);
  ASSERT_TRUE(parsed.history) << parsed.error->message;
  const std::string page = checker::RenderHtmlReport(
      *parsed.history, checker::CheckHistory(*parsed.history), EveryKindOfExtra());
  const nlohmann::json data = PageData(page);
  const std::string script = PageScript(page);
  ASSERT_FALSE(script.empty());

  nlohmann::json tokens = data["tokens"], ops = nlohmann::json::array(),
                 msgs = nlohmann::json::array(), faults = nlohmann::json::array();
  for (const auto& t : tokens) {
    for (const auto& o : t["ops"]) ops.push_back(o);
    for (const auto& m : t["msgs"]) msgs.push_back(m);
    for (const auto& f : t["faults"]) faults.push_back(f);
  }
  std::set<std::string> top;
  for (const auto& [key, value] : data.items()) top.insert(key);
  EXPECT_EQ(FieldsReadThrough(script, "D"), top);
  EXPECT_EQ(FieldsReadThrough(script, "t"), Keys(tokens));
  EXPECT_EQ(FieldsReadThrough(script, "o"), Keys(ops));
  EXPECT_EQ(FieldsReadThrough(script, "m"), Keys(msgs));
  EXPECT_EQ(FieldsReadThrough(script, "f"), Keys(faults));
  // The script reads what the docs at its top promise (the check above is not vacuous).
  EXPECT_EQ(Keys(ops), (std::set<std::string>{"proc", "f", "out", "inv", "end", "invLine",
                                              "endLine", "val", "ver", "bad", "raw"}));
  EXPECT_EQ(Keys(msgs),
            (std::set<std::string>{"from", "to", "sent", "arrives", "label", "ver", "op"}));
  EXPECT_EQ(Keys(faults), (std::set<std::string>{"node", "time", "wholeNode"}));
}

// An operation as the data writes it: `fields` and its raw history lines.
nlohmann::json WithRaw(const char* fields, const std::vector<std::string>& raw) {
  nlohmann::json op = nlohmann::json::parse(fields);
  op["raw"] = raw;
  return op;
}

// What the data says about each kind of operation, message and fault.
TEST(HtmlReportData, SaysWhatTheHistoryAndTheRunSaid) {
  const checker::ParseResult parsed = checker::ParseHistoryString(kEveryOutcome);
  ASSERT_TRUE(parsed.history) << parsed.error->message;
  const std::string page = checker::RenderHtmlReport(
      *parsed.history, checker::CheckHistory(*parsed.history), EveryKindOfExtra());
  const nlohmann::json data = PageData(page);
  std::vector<std::string> lines{""};
  std::istringstream in(kEveryOutcome);
  for (std::string line; std::getline(in, line);) lines.push_back(line);

  EXPECT_EQ(data["verdict"], "violation");
  EXPECT_EQ(data["origin"], "1000") << "times count from the first event";
  EXPECT_EQ(data["end"], 97500 - 1000);
  EXPECT_EQ(data["operations"], 8);
  EXPECT_EQ(data["messageCount"], 2);
  EXPECT_EQ(data["droppedMessages"], 0);
  EXPECT_EQ(data["faultCount"], 2);
  EXPECT_EQ(data["simulated"], true);
  EXPECT_EQ(data["nodes"], nlohmann::json({"n-a", "n-b", "n-c"}));
  ASSERT_EQ(data["tokens"].size(), 3u);
  const nlohmann::json& t1 = data["tokens"][0];
  const nlohmann::json& t2 = data["tokens"][1];
  const nlohmann::json& t3 = data["tokens"][2];
  EXPECT_EQ(t1["name"], "1");
  EXPECT_EQ(t1["verdict"], "violation");
  EXPECT_EQ(t1["rule"], "new-old inversion between two reads");
  EXPECT_EQ(t2["versionChecked"], true);
  EXPECT_EQ(t1["processes"], nlohmann::json({0, 1, 2}));
  EXPECT_EQ(t1["nodes"], nlohmann::json({0, 1}));
  EXPECT_EQ(t2["nodes"], nlohmann::json({2}));
  EXPECT_EQ(t2["verdict"], "linearizable");

  // A write that took effect, the two reads of the violation (one of the initial value).
  const int value_a = data["values"][0] == R"({"high":9,"low":0,"mid":5,"name":"a"})" ? 0 : -1;
  ASSERT_EQ(value_a, 0) << data["values"];
  EXPECT_EQ(t1["ops"][0], WithRaw(R"({"proc":0,"f":"write","out":"ok","inv":0,
      "end":3000,"invLine":1,"endLine":9,"val":0,"ver":1})",
                                  {lines[1], lines[9]}));
  EXPECT_EQ(t1["ops"][1]["bad"], true);
  EXPECT_EQ(t1["ops"][1]["endLine"], 5);
  EXPECT_EQ(t1["ops"][2], WithRaw(R"({"proc":2,"f":"read","out":"ok","inv":1500,
      "end":2000,"invLine":6,"endLine":7,"val":null,"ver":0,"bad":true})",
                                  {lines[6], lines[7]}));
  // A read that never completed: no end, no value.
  EXPECT_EQ(t2["ops"][1], WithRaw(R"({"proc":4,"f":"read","out":"pending",
      "inv":2100,"invLine":8})",
                                  {lines[8]}));
  // An unknown outcome ends when it was recorded; a failed read has no value.
  EXPECT_EQ(t3["ops"][0]["out"], "info");
  EXPECT_EQ(t3["ops"][0]["end"], 95500);
  EXPECT_EQ(t3["ops"][0]["endLine"], 13);
  EXPECT_EQ(t3["ops"][1]["out"], "fail");
  EXPECT_FALSE(t3["ops"][1].contains("val"));

  // Messages name their lanes ("c" process, "n" node) and the operation they serve.
  EXPECT_EQ(t1["msgs"], nlohmann::json::parse(R"([
      {"from":"c0","to":"n1","sent":0,"arrives":200,"label":0,"op":0},
      {"from":"n1","to":"n0","sent":300,"arrives":400,"label":1,"ver":1}])"));
  EXPECT_EQ(t2["msgs"], nlohmann::json::array());
  // A token's crash shows on that token only; a whole node's on every token.
  EXPECT_EQ(t1["faults"], nlohmann::json::parse(R"([{"node":0,"time":1000},
      {"node":2,"time":2000,"wholeNode":true}])"));
  EXPECT_EQ(t2["faults"], nlohmann::json::parse(R"([{"node":2,"time":2000,"wholeNode":true}])"));
}

// Without the history's text (or beyond kHtmlMaxRawOps operations) ops carry no raw lines.
TEST(HtmlReportData, RawLinesOnlyWithTheHistorysText) {
  const checker::ParseResult parsed = checker::ParseHistoryString(kViolatingHistory);
  ASSERT_TRUE(parsed.history);
  const nlohmann::json data =
      PageData(checker::RenderHtmlReport(*parsed.history, checker::CheckHistory(*parsed.history)));
  for (const auto& t : data["tokens"]) {
    for (const auto& o : t["ops"]) EXPECT_FALSE(o.contains("raw")) << o;
  }
  EXPECT_EQ(data["origin"], "1000");
  EXPECT_EQ(data["simulated"], false);
}

TEST(JsonWriter, PlacesCommasAndEscapesEveryString) {
  std::string out;
  checker::JsonWriter w(out);
  w.BeginObject()
      .Field("a", 1)
      .Field("b\"", "x\n\"<\\")
      .Key("c")
      .BeginArray()
      .Int(-2)
      .Uint(3)
      .Bool(false)
      .Null()
      .BeginObject()
      .EndObject()
      .BeginArray()
      .EndArray()
      .EndArray()
      .Field("d", std::string("e"))
      .EndObject();
  EXPECT_TRUE(w.Complete());
  EXPECT_EQ(out, R"({"a":1,"b\"":"x\n\"<\\","c":[-2,3,false,null,{},[]],"d":"e"})");
  EXPECT_EQ(nlohmann::json::parse(out)["b\""], "x\n\"<\\");
}

TEST(JsonWriter, ForScriptWritesNoLessThanSign) {
  std::string out;
  checker::JsonWriter w(out, checker::JsonWriter::Mode::kForScript);
  w.BeginArray().String("</script><b>").String("a<b").EndArray();
  EXPECT_EQ(out.find('<'), std::string::npos) << out;
  EXPECT_EQ(nlohmann::json::parse(out), nlohmann::json({"</script><b>", "a<b"}));
}

}  // namespace
