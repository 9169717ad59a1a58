// Text that echoes what a caller sent, kept bounded: an error or log line that repeats a
// caller's token id or name must not grow with it (gRPC's metadata limit, log volume).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace token {

// `text` when it has at most `max` bytes; otherwise its first `max` bytes followed by
// "...(N bytes)". Never cuts inside a UTF-8 sequence.
std::string Abbreviate(std::string_view text, std::size_t max = 64);

}  // namespace token
