// The command line of every program in apps/, through CLI11: one place for what they share.
//
// - Parse(): the original tools' single-dash long flags (`-port 50051`, `-write -id 1`) are
//   rewritten to CLI11's double dashes (`--port 50051`, the subcommand `write`) before
//   parsing, for every long name the program defines; `PROGRAM help [COMMAND]` is
//   `PROGRAM [COMMAND] --help`. Bad usage prints the error, a suggestion for a mistyped
//   command or option, and exits 2; --help and --version exit 0.
// - Options whose numbers are range-checked: strict decimal (no sign, no hex, no octal), a
//   value outside [min, max] is a usage error naming the flag and the range.
// - Version(): the project's version and the git commit it was built from.
//
// Exit codes of every program: 0 ok, 1 the operation failed or a violation, 2 bad usage or
// input (kExitCodes is the text each --help shows).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "harness/number.h"

namespace tokenapp::cli {

inline constexpr int kOk = 0;
inline constexpr int kFailed = 1;
inline constexpr int kUsage = 2;

// "<program> <version> (git <commit>)".
std::string Version(std::string_view program);

// Runs this program again, once, with glibc's malloc asking for transparent huge pages, for
// programs that build hundreds of megabytes of short-lived objects: on a virtual machine
// every fresh 4 KiB page costs a fault and every TLB miss a nested page walk (a third of
// tokencheck's time on a million operations, half of the explorer's). glibc reads its
// tunable glibc.malloc.hugetlb=1 only when a process starts, hence the second start. Nothing
// happens when `skip_variable` is set in the environment (the second start sets it to 0;
// a user sets it to 1 to keep small pages) or GLIBC_TUNABLES names the tunable already; a
// failed exec goes on as is. `more_tunables` ("glibc.malloc.NAME=VALUE") are set for the
// second start too, each unless GLIBC_TUNABLES names it already. Call it first thing in
// main, with main's argv.
void RunWithHugePages(char** argv, const char* skip_variable,
                      std::span<const char* const> more_tunables = {});

// Runs this program again, once, with `tunables` ("glibc.NAMESPACE.NAME=VALUE", read by
// glibc only when a process starts) added to GLIBC_TUNABLES, each unless it names it
// already; nothing when all are named, or when `skip_variable` is set in the environment
// (the second start sets it to 0; a user sets it to 1 to keep glibc's defaults). A failed
// exec goes on as is. Call it first thing in main, with main's argv.
void RunWithTunables(char** argv, const char* skip_variable, std::span<const char* const> tunables);

// A CLI::App with the shared settings: its name and description, --version, global options
// accepted after a subcommand too (fallthrough), the exit codes in the footer ("exit: ...").
void Configure(CLI::App& app, std::string_view program, std::string_view description,
               std::string_view exit_codes);

// The arguments as CLI11 should see them (argv[0] dropped): single-dash long names
// rewritten, "-COMMAND" moved to the front as the subcommand, "help" turned into --help.
// Nothing after a bare "--" is touched.
std::vector<std::string> Normalize(const CLI::App& app, const std::vector<std::string>& args);

// Parses argv; nullopt when the program should go on, else the exit code to return (the
// help, the version or the usage error has been printed).
std::optional<int> Parse(CLI::App& app, int argc, char** argv);

// Prints "<program>: message" on stderr and returns kUsage.
int UsageError(const CLI::App& app, const std::string& message);

// The closest of `candidates` to `word`, if it is near enough to be a typo.
std::optional<std::string> Suggest(const std::string& word,
                                   const std::vector<std::string>& candidates);

// An option taking an unsigned decimal number in [min, max].
CLI::Option* AddNumber(CLI::App& app, const std::string& name, std::uint64_t* value,
                       std::uint64_t min, std::uint64_t max, const std::string& description);
// A real number in [min, max].
CLI::Option* AddReal(CLI::App& app, const std::string& name, double* value, double min, double max,
                     const std::string& description);

// --tls-cert, --tls-key, --tls-ca (all three or none).
void AddTlsOptions(CLI::App& app, std::string* cert, std::string* key, std::string* ca);

// --json: one JSON object per result.
CLI::Option* AddJson(CLI::App& app, bool* json);

}  // namespace tokenapp::cli
