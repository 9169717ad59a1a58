// Node access points: "<ip-address>:<port>", the identity of a node in the scheme.
//
// Accepted: an IPv4 dotted quad without leading zeros ("127.0.0.1:50051") or a bracketed
// IPv6 address ("[::1]:50051"), and a port in 1..65535. Host names are not accepted: a
// node's identity must be one exact address that every member spells the same way.
//
// Pure functions; no name resolution, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace token {

struct Address {
  std::string host;  // "127.0.0.1" or "::1" (no brackets)
  std::uint16_t port = 0;
};

// INVALID_ARGUMENT with the reason when `text` is not a valid access point.
Result<Address> ParseAddress(std::string_view text);

}  // namespace token
