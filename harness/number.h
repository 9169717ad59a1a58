// Strict parsing of the numbers people type (flags, nemesis specs, tokenclient's shell):
// decimal digits only (no sign, spaces, hex or octal), below 2^64.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tokenapp {

inline std::optional<std::uint64_t> ParseUnsigned(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (n > (UINT64_MAX - digit) / 10) return std::nullopt;
    n = n * 10 + digit;
  }
  return n;
}

}  // namespace tokenapp
