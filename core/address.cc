#include "core/address.h"

#include <arpa/inet.h>

#include <charconv>

#include <fmt/format.h>

namespace token {
namespace {

bool IsIpv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    std::size_t len = i - start;
    if (len == 0 || len > 3) return false;
    if (len > 1 && s[start] == '0') return false;  // no leading zeros: one spelling per node
    int v = 0;
    std::from_chars(s.data() + start, s.data() + i, v);
    if (v > 255) return false;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

bool IsIpv6(std::string_view s) {
  if (s.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  s.copy(buf, s.size());
  buf[s.size()] = '\0';
  unsigned char out[16];
  return inet_pton(AF_INET6, buf, out) == 1;
}

}  // namespace

Result<Address> ParseAddress(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Status::InvalidArgument(
        fmt::format("malformed address '{}': expected <ip-address>:<port>", text));
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  Address addr;
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 2 || host.back() != ']' || !IsIpv6(host.substr(1, host.size() - 2))) {
      return Status::InvalidArgument(
          fmt::format("malformed address '{}': bad IPv6 address '{}'", text, host));
    }
    addr.host = std::string(host.substr(1, host.size() - 2));
  } else {
    if (!IsIpv4(host)) {
      return Status::InvalidArgument(fmt::format(
          "malformed address '{}': '{}' is not an IPv4 address like 127.0.0.1 (or [IPv6])", text,
          host));
    }
    addr.host = std::string(host);
  }
  std::uint64_t port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec == std::errc::result_out_of_range) {
    ec = std::errc();
    port = 65536;  // reported as out of range below
  }
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      (port_text.size() > 1 && port_text[0] == '0')) {
    return Status::InvalidArgument(
        fmt::format("malformed address '{}': port '{}' is not a number", text, port_text));
  }
  if (port < 1 || port > 65535) {
    return Status::InvalidArgument(
        fmt::format("address '{}': port {} out of range 1..65535", text, port));
  }
  addr.port = static_cast<std::uint16_t>(port);
  return addr;
}

}  // namespace token
