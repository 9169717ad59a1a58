#include "core/token.h"

#include <fmt/format.h>

namespace token {

Status ValidateDomain(const Domain& d) {
  if (d.name.size() > kMaxNameBytes) {
    return Status::InvalidArgument(
        fmt::format("name too long: {} bytes; a token's name has at most {} bytes (3 MiB)",
                    d.name.size(), kMaxNameBytes));
  }
  if (d.low > d.mid) {
    return Status::InvalidArgument(
        fmt::format("bad domain: low ({}) must be <= mid ({})", d.low, d.mid));
  }
  if (d.mid >= d.high) {
    return Status::InvalidArgument(
        fmt::format("bad domain: mid ({}) must be < high ({})", d.mid, d.high));
  }
  return Status::Ok();
}

std::string_view ValueKindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kInitial:
      return "initial";
    case ValueKind::kEmpty:
      return "empty";
    case ValueKind::kDropped:
      return "dropped";
    case ValueKind::kData:
      return "data";
  }
  return "unknown";
}

std::optional<HashPoint> CombineFinal(const TokenData& data,
                                      const std::optional<HashPoint>& upper) {
  // partial covers smaller x than upper, so BetterOf's tie rule (keep `a`) is the x rule.
  return BetterOf(data.partial, upper);
}

TokenData ComputeTokenData(const Domain& domain) {
  TOKEN_ASSERT(ValidateDomain(domain).ok(), "ComputeTokenData needs a valid domain");
  return TokenData{domain, Argmin(domain.name, domain.low, domain.mid)};
}

HashPoint ComputeFinal(const TokenData& data) {
  const auto upper = Argmin(data.domain.name, data.domain.mid, data.domain.high);
  const auto final_point = CombineFinal(data, upper);
  TOKEN_ASSERT(final_point.has_value(), "mid < high makes the final range non-empty");
  return *final_point;
}

}  // namespace token
