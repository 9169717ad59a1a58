#include "harness/cli.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

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
  const std::vector<std::string> command_list(commands.begin(), commands.end());
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

std::string RangeText(std::uint64_t min, std::uint64_t max) {
  return fmt::format("{}..{}", min, max);
}

}  // namespace

std::string Version(std::string_view program) {
  return fmt::format("{} {} (git {})", program, kProjectVersion, kGitCommit);
}

void Configure(CLI::App& app, std::string_view program, std::string_view exit_codes) {
  app.name(std::string(program));
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
    std::fprintf(stderr, "%s: %s\n%s(%s --help for usage)\n", program.c_str(), e.what(),
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

CLI::Option* AddNumber(CLI::App& app, const std::string& name, std::uint64_t* value,
                       std::uint64_t min, std::uint64_t max, const std::string& description) {
  CLI::Validator range(
      [min, max](std::string& text) -> std::string {
        const auto n = ParseUnsigned(text);
        if (!n) return fmt::format("'{}' is not a non-negative integer below 2^64", text);
        if (*n < min || *n > max) {
          return fmt::format("{} is not in {}", text, RangeText(min, max));
        }
        return "";
      },
      RangeText(min, max));
  return app
      .add_option_function<std::string>(
          name, [value](const std::string& text) { *value = *ParseUnsigned(text); }, description)
      ->check(range)
      ->type_name("UINT")
      ->default_str(std::to_string(*value));
}

CLI::Option* AddSigned(CLI::App& app, const std::string& name, std::int64_t* value,
                       std::int64_t min, std::int64_t max, const std::string& description) {
  auto parse = [](const std::string& text) -> std::optional<std::int64_t> {
    const bool negative = text.starts_with("-");
    const auto magnitude = ParseUnsigned(negative ? std::string_view(text).substr(1) : text);
    if (!magnitude || *magnitude > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    const auto n = static_cast<std::int64_t>(*magnitude);
    return negative ? -n : n;
  };
  CLI::Validator range(
      [min, max, parse](std::string& text) -> std::string {
        const auto n = parse(text);
        if (!n) return fmt::format("'{}' is not an integer", text);
        if (*n < min || *n > max) return fmt::format("{} is not in {}..{}", text, min, max);
        return "";
      },
      fmt::format("{}..{}", min, max));
  return app
      .add_option_function<std::string>(
          name, [value, parse](const std::string& text) { *value = *parse(text); }, description)
      ->check(range)
      ->type_name("INT")
      ->default_str(std::to_string(*value));
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
  CLI::Validator range(
      [min, max, parse](std::string& text) -> std::string {
        const auto d = parse(text);
        if (!d) return fmt::format("'{}' is not a number", text);
        if (*d < min || *d > max) return fmt::format("{} is not in {}..{}", text, min, max);
        return "";
      },
      fmt::format("{}..{}", min, max));
  return app
      .add_option_function<std::string>(
          name, [value, parse](const std::string& text) { *value = *parse(text); }, description)
      ->check(range)
      ->type_name("REAL")
      ->default_str(fmt::format("{}", *value));
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

}  // namespace tokenapp::cli
