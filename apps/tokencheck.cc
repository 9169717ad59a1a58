// tokencheck: checks a recorded history (JSON Lines, docs/FORMATS.md) for linearizability
// and for the protocol's version order, token by token.
//
//   tokencheck HISTORY [--json] [--no-versions] [--stats] [--html REPORT.html]
//              [--format auto|tokens|jepsen|porcupine] [--search-seconds S] [--search-memory MB]
//
// Exit codes: 0 linearizable, 1 violation, 2 bad input or cannot decide.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "checker/history.h"
#include "checker/history_formats.h"
#include "checker/html_report.h"
#include "checker/linearizability.h"
#include "checker/report.h"

namespace {

int Usage(std::FILE* out) {
  std::fprintf(out,
               "usage: tokencheck HISTORY [--json] [--no-versions] [--stats]\n"
               "                  [--html REPORT.html] [--format auto|tokens|jepsen|porcupine]\n"
               "                  [--search-seconds S] [--search-memory MB]\n"
               "  --json         print one JSON object instead of text\n"
               "  --html FILE    also write a timeline of the history with any violation\n"
               "                 marked, as one self-contained HTML page\n"
               "  --no-versions  check linearizability only, ignore reported versions\n"
               "  --stats        print parse and check times to stderr\n"
               "  --format F     the history's format: tokens (JSON Lines), jepsen (EDN),\n"
               "                 porcupine (Jepsen log lines); auto (default) detects it\n"
               "  --search-seconds S  time budget of the search per token (default 60,\n"
               "                 0.001..86400); beyond it: cannot decide\n"
               "  --search-memory MB  memory budget of the search per token (default 2048,\n"
               "                 1..1048576)\n"
               "exit: 0 linearizable, 1 violation, 2 bad input or cannot decide\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  std::string html_path;
  bool json = false;
  bool stats = false;
  checker::CheckOptions options;
  checker::HistoryFormat format = checker::HistoryFormat::kAuto;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--no-versions") {
      options.check_versions = false;
    } else if (a == "--stats") {
      stats = true;
    } else if (a == "--html") {
      if (i + 1 >= argc || argv[i + 1][0] == '\0') {
        std::fprintf(stderr, "tokencheck: --html needs a file name\n");
        return Usage(stderr);
      }
      html_path = argv[++i];
    } else if (a == "--format") {
      const auto f = i + 1 < argc ? checker::HistoryFormatFromName(argv[i + 1]) : std::nullopt;
      if (!f) {
        std::fprintf(stderr, "tokencheck: --format needs auto, tokens, jepsen or porcupine\n");
        return Usage(stderr);
      }
      format = *f;
      ++i;
    } else if (a == "--search-seconds" || a == "--search-memory") {
      const bool seconds = a == "--search-seconds";
      char* end = nullptr;
      const double v = i + 1 < argc ? std::strtod(argv[i + 1], &end) : 0;
      if (i + 1 >= argc || end == argv[i + 1] || *end != '\0' ||
          !(seconds ? v >= 0.001 && v <= 86400 : v >= 1 && v <= 1048576)) {
        std::fprintf(stderr, "tokencheck: %s needs a number in %s\n", a.c_str(),
                     seconds ? "0.001..86400 (seconds)" : "1..1048576 (MiB)");
        return Usage(stderr);
      }
      ++i;
      if (seconds) {
        options.budget.seconds = v;
      } else {
        options.budget.memory_bytes = static_cast<std::uint64_t>(v * 1024 * 1024);
      }
    } else if (a == "--help" || a == "-h") {
      Usage(stdout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "tokencheck: unknown option '%s'\n", a.c_str());
      return Usage(stderr);
    } else if (path.empty()) {
      path = a;
    } else {
      std::fprintf(stderr, "tokencheck: more than one history file given\n");
      return Usage(stderr);
    }
  }
  if (path.empty()) return Usage(stderr);

  const auto t0 = std::chrono::steady_clock::now();
  // The report shows each operation's raw lines: keep the text when one is asked for.
  std::string history_text;
  checker::ParseResult parsed =
      checker::ReadHistoryFileAs(path, format, html_path.empty() ? nullptr : &history_text);
  const auto t1 = std::chrono::steady_clock::now();
  if (parsed.error) {
    if (parsed.error->line == 0) {
      std::fprintf(stderr, "tokencheck: %s\n", parsed.error->message.c_str());
    } else {
      std::fprintf(stderr, "tokencheck: %s:%llu: %s\n", path.c_str(),
                   static_cast<unsigned long long>(parsed.error->line),
                   parsed.error->message.c_str());
    }
    return 2;
  }
  const checker::Report report = checker::CheckHistory(*parsed.history, options);
  const auto t2 = std::chrono::steady_clock::now();
  if (json) {
    std::printf("%s\n", checker::FormatReportJson(report).c_str());
  } else {
    std::fputs(checker::FormatReportText(report).c_str(), stdout);
  }
  if (!html_path.empty()) {
    checker::HtmlExtras extras;
    extras.title = "tokencheck " + std::filesystem::path(path).filename().string();
    extras.source = path;
    extras.history_text = history_text;
    if (const token::Status written =
            checker::WriteHtmlReport(html_path, *parsed.history, report, extras);
        !written.ok()) {
      std::fprintf(stderr, "tokencheck: %s\n", written.message().c_str());
      return 2;
    }
    std::fprintf(stderr, "tokencheck: report written to %s\n", html_path.c_str());
  }
  if (stats) {
    using ms = std::chrono::duration<double, std::milli>;
    std::fprintf(stderr, "parse %.1f ms, check %.1f ms, %llu lines\n", ms(t1 - t0).count(),
                 ms(t2 - t1).count(), static_cast<unsigned long long>(parsed.history->lines));
  }
  return checker::ExitCodeOf(report);
}
