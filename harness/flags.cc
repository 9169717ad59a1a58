#include "harness/flags.h"

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

namespace tokenapp {

using token::Result;
using token::Status;

Result<std::uint64_t> ParseUnsigned(const std::string& text, const std::string& what) {
  if (text.empty() || text[0] < '0' || text[0] > '9') {
    return Status::InvalidArgument(
        fmt::format("{} needs a non-negative integer, got '{}'", what, text));
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) {
    return Status::InvalidArgument(
        fmt::format("{} needs a non-negative integer below 2^64, got '{}'", what, text));
  }
  return static_cast<std::uint64_t>(n);
}

Result<Flags> Flags::Parse(int argc, char** argv, int first, const std::vector<FlagSpec>& specs) {
  Flags flags;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) flags.positional_.push_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-' || (arg[1] >= '0' && arg[1] <= '9')) {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<std::string> inline_value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs) {
      if (s.name == name) spec = &s;
    }
    if (spec == nullptr) return Status::InvalidArgument(fmt::format("unknown flag '{}'", arg));
    if (!spec->takes_value) {
      if (inline_value) {
        return Status::InvalidArgument(fmt::format("flag --{} takes no value", name));
      }
      flags.values_[name].push_back("true");
      continue;
    }
    if (inline_value) {
      flags.values_[name].push_back(*inline_value);
    } else if (i + 1 < argc) {
      flags.values_[name].push_back(argv[++i]);
    } else {
      return Status::InvalidArgument(fmt::format("flag --{} needs a value", name));
    }
  }
  return flags;
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Flags::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

std::vector<std::string> Flags::All(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

Result<std::uint64_t> Flags::Number(const std::string& name, std::uint64_t fallback) const {
  auto v = Get(name);
  if (!v) return fallback;
  return ParseUnsigned(*v, "--" + name);
}

Result<double> Flags::Real(const std::string& name, double fallback) const {
  auto v = Get(name);
  if (!v) return fallback;
  char* end = nullptr;
  const double d = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0') {
    return Status::InvalidArgument(fmt::format("--{} needs a number, got '{}'", name, *v));
  }
  return d;
}

}  // namespace tokenapp
