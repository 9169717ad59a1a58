// Runs a scenario in the simulator and judges it: the checker's verdict on the recorded
// history, and the scenario's expectation (verdict, completion, ok counts).
//
// Shared by `tokensim run`, `replay` and `fuzz`; joins sim/ and checker/, which know
// nothing of each other.
#pragma once

#include <optional>
#include <string>

#include "checker/history.h"
#include "checker/html_report.h"
#include "checker/linearizability.h"
#include "sim/scenario.h"
#include "sim/simulator.h"

namespace tokensim {

struct Judgement {
  sim::SimResult run;
  std::string history_jsonl;
  std::optional<checker::History> history;  // parsed from history_jsonl
  checker::Report report;
  std::optional<std::string> parse_error;  // the simulator wrote a history the checker rejects
  bool expectation_met = false;
  std::string mismatch;  // why not, in words
};

// With `messages`, the run's messages are recorded there (for a report).
Judgement RunAndJudge(const sim::Scenario& scenario, const sim::TraceSink& trace = nullptr,
                      std::vector<sim::MessageRecord>* messages = nullptr);

// What the HTML report shows of a simulated run beyond its history: the nodes, each token's
// replicas, the messages and the faults. The returned extras point into `j` (the history
// text): keep `j` alive while using them.
checker::HtmlExtras SimReportExtras(const sim::Scenario& scenario, const Judgement& j,
                                    const std::vector<sim::MessageRecord>& messages);

// A failing case written out: DIR/STEM.yaml (the scenario, created with DIR if needed) and
// DIR/STEM.html (the report of a run of the file as written, what a person opens first).
// An empty path: that file could not be written.
struct WrittenCase {
  std::string yaml_path;
  std::string html_path;
};
WrittenCase WriteCase(const sim::Scenario& scenario, const std::string& dir,
                      const std::string& stem);

// The readable summary `tokensim run` prints (without the digest line).
std::string Summary(const sim::Scenario& scenario, const Judgement& j);

}  // namespace tokensim
