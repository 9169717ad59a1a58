#include "harness/nemesis.h"

#include <algorithm>

#include <fmt/format.h>

#include "harness/number.h"

namespace tokenapp {
namespace {

using Kind = NemesisAction::Kind;

// The longest schedule a spec may describe: a day.
constexpr std::uint64_t kMaxMs = 24ULL * 3600 * 1000;

token::Result<std::uint64_t> Millis(const std::string& text, const std::string& spec,
                                    const char* what) {
  const auto n = ParseUnsigned(text);
  if (!n) {
    return token::Status::InvalidArgument(
        fmt::format("{} in nemesis '{}' needs a non-negative integer, got '{}'", what, spec, text));
  }
  if (*n > kMaxMs) {
    return token::Status::InvalidArgument(
        fmt::format("nemesis '{}': {} {} ms is more than a day", spec, what, *n));
  }
  return *n;
}

token::Status Malformed(const std::string& spec) {
  return token::Status::InvalidArgument(
      fmt::format("nemesis '{}': expected kill:NODE@T, restart:NODE@T+DOWN, wipe:NODE@T+DOWN "
                  "or rolling@T+DOWN/GAP (times in ms)",
                  spec));
}

token::Status ParseOne(const std::string& spec, const token::ReplicationScheme& scheme,
                       std::vector<NemesisAction>& out) {
  const auto at = spec.find('@');
  if (at == std::string::npos) return Malformed(spec);
  const std::string head = spec.substr(0, at);
  const std::string times = spec.substr(at + 1);
  const auto plus = times.find('+');
  const std::string t_text = times.substr(0, plus);
  auto t = Millis(t_text, spec, "T");
  if (!t.ok()) return t.status();

  if (head == "rolling") {
    const auto slash = times.find('/');
    if (plus == std::string::npos || slash == std::string::npos || slash < plus) {
      return Malformed(spec);
    }
    auto down = Millis(times.substr(plus + 1, slash - plus - 1), spec, "DOWN");
    if (!down.ok()) return down.status();
    auto gap = Millis(times.substr(slash + 1), spec, "GAP");
    if (!gap.ok()) return gap.status();
    std::uint64_t when = t.value();
    for (token::NodeIndex n = 0; n < scheme.nodes().size(); ++n) {
      out.push_back({when, Kind::kKill, n});
      out.push_back({when + down.value(), Kind::kStart, n});
      when += down.value() + gap.value();
    }
    return token::Status::Ok();
  }
  const auto colon = head.find(':');
  if (colon == std::string::npos) return Malformed(spec);
  const std::string kind = head.substr(0, colon);
  const std::string address = head.substr(colon + 1);
  const auto node = scheme.FindNode(address);
  if (!node) {
    return token::Status::InvalidArgument(
        fmt::format("nemesis '{}': {} is not a node of the scheme ({})", spec, address,
                    fmt::join(scheme.nodes(), ", ")));
  }
  if (kind == "kill") {
    if (plus != std::string::npos) return Malformed(spec);
    out.push_back({t.value(), Kind::kKill, *node});
    return token::Status::Ok();
  }
  if ((kind != "restart" && kind != "wipe") || plus == std::string::npos) return Malformed(spec);
  auto down = Millis(times.substr(plus + 1), spec, "DOWN");
  if (!down.ok()) return down.status();
  out.push_back({t.value(), Kind::kKill, *node});
  if (kind == "wipe") out.push_back({t.value(), Kind::kWipe, *node});
  out.push_back({t.value() + down.value(), Kind::kStart, *node});
  return token::Status::Ok();
}

}  // namespace

std::string_view NemesisActionName(NemesisAction::Kind kind) {
  switch (kind) {
    case Kind::kKill:
      return "kill -9";
    case Kind::kStart:
      return "start";
    case Kind::kWipe:
      return "wipe the data of";
  }
  return "?";
}

token::Result<std::vector<NemesisAction>> ParseNemesis(const std::vector<std::string>& specs,
                                                       const token::ReplicationScheme& scheme) {
  std::vector<NemesisAction> actions;
  for (const std::string& spec : specs) {
    if (auto s = ParseOne(spec, scheme, actions); !s.ok()) return s;
  }
  std::stable_sort(
      actions.begin(), actions.end(),
      [](const NemesisAction& a, const NemesisAction& b) { return a.at_ms < b.at_ms; });
  std::vector<bool> up(scheme.nodes().size(), true);
  for (const NemesisAction& a : actions) {
    const std::string& name = scheme.node(a.node);
    if (a.kind == Kind::kKill && !up[a.node]) {
      return token::Status::InvalidArgument(fmt::format(
          "nemesis: node {} is killed at {} ms while it is down already", name, a.at_ms));
    }
    if (a.kind == Kind::kStart && up[a.node]) {
      return token::Status::InvalidArgument(fmt::format(
          "nemesis: node {} is started at {} ms while it is up already", name, a.at_ms));
    }
    if (a.kind != Kind::kWipe) up[a.node] = a.kind == Kind::kStart;
  }
  return actions;
}

}  // namespace tokenapp
