// A failure report a person can read: one self-contained HTML file (no network access, no
// external scripts or fonts) with, per token, a timeline of the history (one lane per
// client process, each operation a bar from invocation to completion), the operations of a
// violation highlighted with the rule in words, and, for simulated runs, the protocol's
// messages between clients and nodes (a Lamport diagram) with the faults marked.
//
// The page draws itself from the data embedded in it (SVG, drawn per view), so it stays
// usable from 10 to 10,000 operations: zoom (wheel, buttons, keys), pan (drag), a jump to
// each violation, hover for the full operation or message. The page's markup, styles and
// script are the files in checker/report_page/, compiled in; the data is one JSON object
// with named fields (listed at the top of report_page/report.js).
//
// DOM contract (tests rely on it): every drawn operation is an SVG element with class
// `op` and the attributes `data-token`, `data-process`, `data-line` (its completion line,
// or its invocation line when it never completed) and `data-invoke-line`; the operations
// of a violation also have class `violation`. Each violation is listed in an element with
// class `violation-rule`. The element with id `report-status` says `ready` once drawn.
//
// The checker knows nothing of the simulator: a simulated run's messages and faults come
// in through HtmlExtras, indexed by this history's tokens.
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "checker/history.h"
#include "checker/linearizability.h"

namespace checker {

struct HtmlEndpoint {
  bool node = false;  // a node (index into HtmlExtras::nodes) or a client process
  std::uint32_t id = 0;
};

struct HtmlMessage {
  std::uint32_t token = 0;  // index into History::tokens
  HtmlEndpoint from;
  HtmlEndpoint to;
  std::int64_t sent_ns = 0;
  std::int64_t arrives_ns = 0;
  std::uint32_t label = 0;    // index into HtmlExtras::labels ("Query", "read request", ...)
  std::int64_t version = -1;  // the version it carries, -1 for none
  // The operation it serves, as (process, invocation time) of the history; none: unknown.
  std::optional<std::pair<std::uint32_t, std::int64_t>> op;
};

struct HtmlFault {
  std::uint32_t node = 0;
  std::optional<std::uint32_t> token;  // index into History::tokens; none: the whole node
  std::int64_t time_ns = 0;
};

struct HtmlExtras {
  std::string title = "token history";
  std::string source;              // the file or scenario it came from
  std::vector<std::string> notes;  // extra lines for the header (seed, digest, ...)
  std::string_view history_text;   // the JSON Lines, to show each op's raw lines
  bool simulated = false;          // the run came from the simulator
  // The nodes, which of them replicate each token (lanes), the messages (simulated runs)
  // and the faults (simulated runs, or the crashes a load generator caused).
  std::vector<std::string> nodes;
  std::vector<std::vector<std::uint32_t>> token_nodes;  // per History::tokens index
  std::vector<std::string> labels;
  std::vector<HtmlMessage> messages;
  std::vector<HtmlFault> faults;
};

// Operations above which raw history lines are left out of the page (its size).
inline constexpr std::size_t kHtmlMaxRawOps = 20000;
// Messages above which the page keeps only the first ones (and says so).
inline constexpr std::size_t kHtmlMaxMessages = 400000;

std::string RenderHtmlReport(const History& history, const Report& report,
                             const HtmlExtras& extras = {});

// Writes the report to `path`; INVALID_ARGUMENT naming the file when it cannot be written.
token::Status WriteHtmlReport(const std::string& path, const History& history, const Report& report,
                              const HtmlExtras& extras = {});

}  // namespace checker
