// tokencheck: checks a recorded history (JSON Lines, docs/FORMATS.md) for linearizability
// and for the protocol's version order, token by token.
//
//   tokencheck HISTORY [--json] [--no-versions] [--stats] [--html REPORT.html]
//              [--format auto|tokens|jepsen|porcupine] [--search-seconds S] [--search-memory MB]
//   tokencheck --help
//
// Exit codes: 0 linearizable, 1 violation, 2 bad input or cannot decide.
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "checker/history.h"
#include "checker/history_formats.h"
#include "checker/html_report.h"
#include "checker/linearizability.h"
#include "checker/report.h"
#include "harness/cli.h"

namespace {

// Malloc's tunables for tokencheck's second start besides hugetlb=1 (docs/CHECKER.md,
// "Speed", has the measurements):
//  - arena_max=1: the parsing threads allocate from the main heap too. An arena of its
//    own grows a thread's heap a few pages at a time, and the kernel backs a growing edge
//    with 4 KiB pages, each a fault.
//  - mmap_max=0: every block comes from the main heap, which grows in whole huge pages;
//    none is mapped on its own. Such a block is 16 bytes longer than asked, so its mapping
//    is not a multiple of 2 MiB, the kernel does not align it to one, and both its ends
//    fall back to 4 KiB pages; freed, it goes back to the kernel, and the next big block
//    (the check's tables after the reader's) comes as fresh pages again, where a hole in
//    the heap is reused. (Before, mmap_threshold=32 MiB, glibc's largest, kept only the
//    blocks below it in the heap: 10M operations took 4,900-6,000 page faults, now
//    1,400-1,800, peak memory 1-5% higher. System time moves more with what a fresh page
//    costs at the moment than with either setting: 0.8-1.6 s both ways.)
//  - trim_threshold=4 GiB: memory freed at the heap's top (a phase's tables) stays for
//    the next phase instead of going back to the kernel and coming back as fresh pages.
// The three together: 6,300 page faults on a million operations -> 1,000-1,200.
constexpr const char* kMallocTunables[] = {"glibc.malloc.arena_max=1", "glibc.malloc.mmap_max=0",
                                           "glibc.malloc.trim_threshold=4294967296"};

// Inputs below this size get kMallocTunables' settings in this process (TuneMallocHere);
// from it on (and for pipes, whose size is not known) tokencheck starts itself again with
// them, where glibc applies hugetlb=1 to every growth of the heap. A second start costs
// about 5 ms (`perf stat -r 30 tokencheck --version`: 5.8 ms), nothing beside a 1 GiB input.
// In this process against a second start (histgen histories, 64 processes; `perf stat -r
// 21`): 10,000 operations 20.3 -> 15.6 ms, 300,000 96.8 -> 86.3 ms; 1,000,000
// (bench/check_speed.sh, 9 alternate runs) 0.258 -> 0.231 s, page faults 1,099 -> 407 (the
// whole heap is advised at once; glibc advises each growth, whose edges fault in 4 KiB).
constexpr off_t kRestartFromBytes = off_t{1} << 30;

// kMallocTunables without a second start, for an input of `bytes` (below kRestartFromBytes):
// the same three settings by mallopt (before any thread starts), and, for hugetlb=1, a
// start-only tunable, the heap grown ahead by the input's size (a check takes about half
// of it: docs/CHECKER.md), advised for huge pages and handed back to malloc, which keeps it
// (the trim threshold) and carves the reader's and the check's tables out of it. Nothing
// is touched ahead: only what is used is faulted in.
void TuneMallocHere(std::uint64_t bytes) {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
  const std::size_t ahead = std::max<std::uint64_t>(bytes, kHugePage * 2);
  void* block = std::malloc(ahead);
  if (block == nullptr) return;
  const auto at = reinterpret_cast<std::uintptr_t>(block);
  const std::uintptr_t begin = (at + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t end = (at + ahead) & ~(kHugePage - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  std::free(block);
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  std::string html_path;
  bool json = false;
  bool stats = false;
  bool no_versions = false;
  CLI::App app;
  tokenapp::cli::Configure(
      app, "tokencheck",
      "Checks a recorded history (JSON Lines, docs/FORMATS.md) for linearizability and for "
      "the protocol's version order, token by token.",
      "0 linearizable, 1 violation, 2 bad input or cannot decide");
  app.add_option("HISTORY", path,
                 "the history file: JSON Lines (docs/FORMATS.md), Jepsen EDN or Jepsen log "
                 "lines")
      ->required();
  tokenapp::cli::AddJson(app, &json);
  app.add_option("--html", html_path,
                 "also write a timeline of the history with any violation marked, as one "
                 "self-contained HTML page")
      ->type_name("FILE")
      ->check(CLI::Validator(
          [](std::string& name) -> std::string { return name.empty() ? "needs a file name" : ""; },
          ""));
  app.add_flag("--no-versions", no_versions,
               "check linearizability only, ignore reported versions");
  app.add_flag("--stats", stats, "print parse and check times to stderr");
  std::string format_name = "auto";
  app.add_option("--format", format_name,
                 "the history's format: tokens (JSON Lines), jepsen (EDN), porcupine (Jepsen "
                 "log lines); auto detects it")
      ->check(CLI::IsMember({"auto", "tokens", "jepsen", "porcupine"}))
      ->capture_default_str();
  checker::CheckOptions options;
  tokenapp::cli::AddReal(app, "--search-seconds", &options.budget.seconds, 0.001, 86400,
                         "time budget of the search per token; beyond it: cannot decide");
  double search_memory_mib = static_cast<double>(options.budget.memory_bytes >> 20);
  tokenapp::cli::AddReal(app, "--search-memory", &search_memory_mib, 1, 1048576,
                         "memory budget of the search per token, in MiB");
  if (auto code = tokenapp::cli::Parse(app, argc, argv)) return *code;
  // docs/CHECKER.md ("Speed") has the measurements. A pipe's size is not known: tuned.
  // A user's own malloc tunables (GLIBC_TUNABLES) are kept: the second start only adds
  // the ones missing.
  if (std::getenv("TOKENCHECK_SMALL_PAGES") == nullptr) {
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    const bool users = tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr;
    if (struct stat st{}; !users && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                          st.st_size < kRestartFromBytes) {
      TuneMallocHere(static_cast<std::uint64_t>(st.st_size));
    } else {
      tokenapp::cli::RunWithHugePages(argv, "TOKENCHECK_SMALL_PAGES", kMallocTunables);
    }
  }

  options.check_versions = !no_versions;
  options.budget.memory_bytes = static_cast<std::uint64_t>(search_memory_mib * 1024 * 1024);
  const checker::HistoryFormat format = *checker::HistoryFormatFromName(format_name);

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
    std::fprintf(stderr, "parse %.1f ms, check %.1f ms, %llu lines (%llu by the plain scanner)\n",
                 ms(t1 - t0).count(), ms(t2 - t1).count(),
                 static_cast<unsigned long long>(parsed.history->lines),
                 static_cast<unsigned long long>(parsed.history->plain_lines));
  }
  return checker::ExitCodeOf(report);
}
