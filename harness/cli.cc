#include "harness/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace tokenapp::cli {

extern const char* const kProjectVersion;  // generated: harness/version.cc in the build
extern const char* const kGitCommit;

namespace {

// Every long option name ("--name") and subcommand name of `app` and its subcommands.
void Collect(const CLI::App& app, std::set<std::string>* longs, std::set<std::string>* commands) {
  for (const CLI::Option* o : app.get_options()) {
    for (const std::string& n : o->get_lnames()) longs->insert(n);
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    commands->insert(sub->get_name());
    Collect(*sub, longs, commands);
  }
}

std::size_t Distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string Program(const CLI::App& app) {
  const CLI::App* root = &app;
  while (root->get_parent() != nullptr) root = root->get_parent();
  return root->get_name();
}

// "did you mean" lines for the words of `args` that are neither a known option nor a
// known command.
std::string Suggestions(const CLI::App& app, const std::vector<std::string>& args) {
  std::set<std::string> longs, commands;
  Collect(app, &longs, &commands);
  const std::vector<std::string> long_list(longs.begin(), longs.end());
  std::vector<std::string> command_list(commands.begin(), commands.end());
  // "help [COMMAND]" works wherever there are commands (Normalize), so a typo of it is
  // suggested too.
  if (!command_list.empty()) command_list.push_back("help");
  bool has_command = false;
  for (const std::string& a : args) has_command = has_command || commands.contains(a);
  std::string out;
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a.starts_with("--")) {
      const std::string name =
          a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
      if (longs.contains(name)) continue;
      if (auto s = Suggest(name, long_list)) {
        out += fmt::format("  unknown option '--{}': did you mean '--{}'?\n", name, *s);
      }
    } else if (!has_command && !command_list.empty() && !a.starts_with("-")) {
      if (auto s = Suggest(a, command_list)) {
        out += fmt::format("  unknown command '{}': did you mean '{}'?\n", a, *s);
      }
    }
  }
  return out;
}

}  // namespace

std::string Version(std::string_view program) {
  return fmt::format("{} {} (git {})", program, kProjectVersion, kGitCommit);
}

void Configure(CLI::App& app, std::string_view program, std::string_view description,
               std::string_view exit_codes) {
  app.name(std::string(program));
  app.description(std::string(description));
  app.set_version_flag("--version", Version(program), "print the version and the git commit");
  app.fallthrough();
  app.footer(fmt::format("exit: {}", exit_codes));
}

std::vector<std::string> Normalize(const CLI::App& app, const std::vector<std::string>& args) {
  std::set<std::string> longs, commands;
  Collect(app, &longs, &commands);
  std::vector<std::string> out;
  std::vector<std::string> moved;  // "-write": the subcommand, placed first
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (a.size() > 2 && a[0] == '-' && a[1] != '-' && (a[1] < '0' || a[1] > '9')) {
      const std::string name =
          a.substr(1, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 1);
      if (longs.contains(name)) {
        out.push_back("-" + a);
        continue;
      }
      if (commands.contains(name) && name.size() + 1 == a.size()) {
        moved.push_back(name);
        continue;
      }
    }
    out.push_back(a);
  }
  if (!out.empty() && out[0] == "help") {
    // help [COMMAND]: COMMAND --help
    out.erase(out.begin());
    if (!out.empty() && commands.contains(out[0])) {
      out.insert(out.begin() + 1, "--help");
    } else {
      out.insert(out.begin(), "--help");
    }
  }
  out.insert(out.begin(), moved.begin(), moved.end());
  return out;
}

int UsageError(const CLI::App& app, const std::string& message) {
  const std::string program = Program(app);
  std::fprintf(stderr, "%s: %s\n(%s --help for usage)\n", program.c_str(), message.c_str(),
               program.c_str());
  return kUsage;
}

std::optional<int> Parse(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  args = Normalize(app, args);
  // CLI11 takes the arguments reversed (it pops them from the back).
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string program = Program(app);
    // CLI11 says "--flag: 1 required TYPE missing" for a flag given without its value.
    std::string message = e.what();
    static const std::regex kMissing("^(\\S+): 1 required (\\S+) missing$");
    message = std::regex_replace(message, kMissing, "$1 needs a value ($2)");
    std::fprintf(stderr, "%s: %s\n%s(%s --help for usage)\n", program.c_str(), message.c_str(),
                 Suggestions(app, args).c_str(), program.c_str());
    return kUsage;
  }
  return std::nullopt;
}

std::optional<std::string> Suggest(const std::string& word,
                                   const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (const std::string& c : candidates) {
    const std::size_t d = Distance(word, c);
    if (!best || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  const std::size_t near = std::max<std::size_t>(2, word.size() / 3);
  if (!best || best_distance > near || best_distance >= best->size()) return std::nullopt;
  return best;
}

namespace {

// An option whose text `parse` turns into a T in [min, max]; otherwise a usage error
// naming the flag: "'TEXT' is not <what>" or "TEXT is not in MIN..MAX".
template <typename T, typename Parse>
CLI::Option* AddChecked(CLI::App& app, const std::string& name, T* value, T min, T max, Parse parse,
                        const char* what, const char* type, const std::string& description) {
  const std::string range_text = fmt::format("{}..{}", min, max);
  CLI::Validator range(
      [min, max, parse, what, range_text](std::string& text) -> std::string {
        const std::optional<T> n = parse(text);
        if (!n) return fmt::format("'{}' is not {}", text, what);
        if (*n < min || *n > max) return fmt::format("{} is not in {}", text, range_text);
        return "";
      },
      range_text);
  return app
      .add_option_function<std::string>(
          name, [value, parse](const std::string& text) { *value = *parse(text); }, description)
      ->check(range)
      ->type_name(type)
      ->default_str(fmt::format("{}", *value));
}

}  // namespace

CLI::Option* AddNumber(CLI::App& app, const std::string& name, std::uint64_t* value,
                       std::uint64_t min, std::uint64_t max, const std::string& description) {
  return AddChecked(
      app, name, value, min, max, [](const std::string& text) { return ParseUnsigned(text); },
      "a non-negative integer below 2^64", "UINT", description);
}

CLI::Option* AddReal(CLI::App& app, const std::string& name, double* value, double min, double max,
                     const std::string& description) {
  auto parse = [](const std::string& text) -> std::optional<double> {
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const double d = std::strtod(text.c_str(), &end);
    if (*end != '\0' || errno == ERANGE || !std::isfinite(d)) return std::nullopt;
    return d;
  };
  return AddChecked(app, name, value, min, max, parse, "a number", "REAL", description);
}

void AddTlsOptions(CLI::App& app, std::string* cert, std::string* key, std::string* ca) {
  auto* c = app.add_option("--tls-cert", *cert, "mutual TLS: this program's certificate (PEM)")
                ->type_name("FILE");
  auto* k =
      app.add_option("--tls-key", *key, "mutual TLS: its private key (PEM)")->type_name("FILE");
  auto* a = app.add_option("--tls-ca", *ca, "mutual TLS: the CA that signs every certificate")
                ->type_name("FILE");
  c->needs(k)->needs(a);
  k->needs(c)->needs(a);
  a->needs(c)->needs(k);
  for (CLI::Option* o : {c, k, a}) o->group("TLS (give all three or none)");
}

CLI::Option* AddJson(CLI::App& app, bool* json) {
  return app.add_flag("--json", *json, "print one JSON object per result");
}

void RunWithTunables(char** argv, const char* skip_variable,
                     std::span<const char* const> tunables) {
  if (std::getenv(skip_variable) != nullptr) return;
  const char* given = std::getenv("GLIBC_TUNABLES");
  std::string value = given ? given : "";
  bool added = false;
  for (const char* tunable : tunables) {
    const std::string_view name(tunable, std::string_view(tunable).find('=') + 1);
    if (value.find(name) != std::string::npos) continue;
    value += (value.empty() ? "" : ":") + std::string(tunable);
    added = true;
  }
  if (!added) return;
  if (::setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  // Whatever glibc does with the variable, this process does not come back here.
  if (::setenv(skip_variable, "0", 1) != 0) return;
  // By its own path, not /proc/self/exe: the process keeps its name (ps, top).
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = '\0';
  ::execv(self, argv);
}

void RunWithHugePages(char** argv, const char* skip_variable,
                      std::span<const char* const> more_tunables) {
  // The user's own hugetlb choice stands, and then nothing is added.
  const char* given = std::getenv("GLIBC_TUNABLES");
  if (given != nullptr && std::strstr(given, "glibc.malloc.hugetlb=") != nullptr) return;
  std::vector<const char*> tunables = {"glibc.malloc.hugetlb=1"};
  tunables.insert(tunables.end(), more_tunables.begin(), more_tunables.end());
  RunWithTunables(argv, skip_variable, tunables);
}

}  // namespace tokenapp::cli
