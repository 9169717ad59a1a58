#include "core/address.h"

#include <arpa/inet.h>

#include <algorithm>
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

bool IsHostName(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '-' || s.front() == '.') return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The IPv6 address inside the brackets, checked to be in canonical form.
Result<std::string> CanonicalIpv6(std::string_view text, std::string_view s) {
  unsigned char bytes[16];
  char buf[INET6_ADDRSTRLEN] = {};
  if (s.size() < INET6_ADDRSTRLEN) {
    s.copy(buf, s.size());
    buf[s.size()] = '\0';
  }
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN || inet_pton(AF_INET6, buf, bytes) != 1) {
    return Status::InvalidArgument(
        fmt::format("malformed address '{}': bad IPv6 address '[{}]'", text, s));
  }
  const bool v4_mapped = std::all_of(bytes, bytes + 10, [](unsigned char b) { return b == 0; }) &&
                         bytes[10] == 0xff && bytes[11] == 0xff;
  if (v4_mapped) {
    return Status::InvalidArgument(fmt::format(
        "address '{}': '[{}]' is an IPv4-mapped IPv6 address; write the node as {}.{}.{}.{}:<port>",
        text, s, bytes[12], bytes[13], bytes[14], bytes[15]));
  }
  char canonical[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, bytes, canonical, sizeof canonical) == nullptr) {
    return Status::InvalidArgument(
        fmt::format("malformed address '{}': bad IPv6 address '[{}]'", text, s));
  }
  if (s != canonical) {
    return Status::InvalidArgument(
        fmt::format("address '{}': IPv6 address '[{}]' is not in canonical form (RFC 5952); "
                    "write it as [{}] so that every member spells the node the same way",
                    text, s, canonical));
  }
  return std::string(canonical);
}

Result<std::uint16_t> ParsePort(std::string_view text, std::string_view port_text) {
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
        fmt::format("address '{}': port {} out of range 1..65535", text, port_text));
  }
  return static_cast<std::uint16_t>(port);
}

Result<Address> Parse(std::string_view text, bool allow_host_name) {
  const auto colon = text.rfind(':');
  const bool bracket_without_port = !text.empty() && text.back() == ']';
  if (colon == std::string_view::npos || bracket_without_port) {
    return Status::InvalidArgument(fmt::format(
        "malformed address '{}': expected <ip-address>:<port> (the port is required)", text));
  }
  std::string_view host = text.substr(0, colon);
  Address addr;
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') {
      return Status::InvalidArgument(
          fmt::format("malformed address '{}': bad IPv6 address '{}'", text, host));
    }
    auto v6 = CanonicalIpv6(text, host.substr(1, host.size() - 2));
    if (!v6.ok()) return v6.status();
    addr.host = std::move(v6).value();
  } else if (IsIpv4(host) || (allow_host_name && IsHostName(host) && host.find(':') == host.npos)) {
    addr.host = std::string(host);
  } else {
    return Status::InvalidArgument(fmt::format(
        "malformed address '{}': '{}' is not an IPv4 address like 127.0.0.1 (or [IPv6]{})", text,
        host, allow_host_name ? ", or a host name" : ""));
  }
  auto port = ParsePort(text, text.substr(colon + 1));
  if (!port.ok()) return port.status();
  addr.port = port.value();
  return addr;
}

}  // namespace

Result<Address> ParseAddress(std::string_view text) { return Parse(text, false); }

Result<Address> ParseServerAddress(std::string_view text) { return Parse(text, true); }

}  // namespace token
