// Node access points: "<ip-address>:<port>", the identity of a node in the scheme.
//
// Accepted: an IPv4 dotted quad without leading zeros ("127.0.0.1:50051") or a bracketed
// IPv6 address in its canonical text form (RFC 5952, as inet_ntop writes it: lower case,
// no leading zeros in a group, the longest run of zero groups shortened to "::"; so
// "[::1]:50051", never "[0::1]" or "[0:0:0:0:0:0:0:1]"), and a port in 1..65535. Host names
// and IPv4-mapped IPv6 addresses ("[::ffff:127.0.0.1]") are not accepted: a node's
// identity must be one exact address that every member spells the same way, so that two
// spellings can never make one machine two nodes. A non-canonical spelling is refused with
// the canonical one in the message.
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

// A server a client dials ("--server"): an access point as above, or a host name
// ("localhost:50051", letters, digits, '-' and '.'), with a port in 1..65535.
// INVALID_ARGUMENT with the reason otherwise (a missing port, or one out of range, is never
// taken modulo 65536 or as 0).
Result<Address> ParseServerAddress(std::string_view text);

}  // namespace token
