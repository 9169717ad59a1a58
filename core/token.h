// The token: what a write stores and what a read computes.
//
// A token's register holds a RegisterValue: the initial value (never written, version 0),
// an empty token (after create), a tombstone (after drop) or data written by a write:
// a name and a domain low <= mid < high with the writer's `partial` = argmin of H over
// [low, mid). A read returns the data with `final` = argmin over [low, high), computed as
// the better of `partial` and the argmin over [mid, high) (core/token_hash.h), so the
// reader never rehashes [low, mid).
//
// low == mid is allowed: the partial range is empty and `partial` is absent; `final` is
// then the argmin over [mid, high). low > mid or mid >= high is INVALID_ARGUMENT.
//
// Values are immutable once built and shared by pointer between replicas' messages.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "core/token_hash.h"

namespace token {

// What a client asks to write.
struct Domain {
  std::string name;
  std::uint64_t low = 0;
  std::uint64_t mid = 0;
  std::uint64_t high = 0;
  friend bool operator==(const Domain&, const Domain&) = default;
};

// The longest name a write may store: every message carrying it must cross the network
// in one piece (net_grpc/credentials.h: kMaxMessageBytes).
inline constexpr std::size_t kMaxNameBytes = 3 << 20;  // 3 MiB

// OK, or INVALID_ARGUMENT naming the broken inequality or the name's limit.
Status ValidateDomain(const Domain& domain);

// A written token: the domain plus the writer's partial argmin.
struct TokenData {
  Domain domain;
  std::optional<HashPoint> partial;  // absent when low == mid
  friend bool operator==(const TokenData&, const TokenData&) = default;
};

enum class ValueKind : std::uint8_t {
  kInitial = 0,  // never written (version 0)
  kEmpty = 1,    // created, no data yet
  kDropped = 2,  // tombstone
  kData = 3,     // written data
};

std::string_view ValueKindName(ValueKind kind);

// One register value. Cheap to copy: the data is shared and immutable.
class RegisterValue {
 public:
  RegisterValue() = default;  // the initial value
  static RegisterValue Empty() { return RegisterValue(ValueKind::kEmpty, nullptr); }
  static RegisterValue Dropped() { return RegisterValue(ValueKind::kDropped, nullptr); }
  static RegisterValue Data(TokenData data) {
    return RegisterValue(ValueKind::kData, std::make_shared<const TokenData>(std::move(data)));
  }

  ValueKind kind() const { return kind_; }
  bool has_data() const { return kind_ == ValueKind::kData; }
  // REQUIRES: has_data()
  const TokenData& data() const {
    TOKEN_ASSERT(has_data(), "data() of a value without data");
    return *data_;
  }

  friend bool operator==(const RegisterValue& a, const RegisterValue& b) {
    if (a.kind_ != b.kind_) return false;
    return !a.has_data() || a.data_ == b.data_ || *a.data_ == *b.data_;
  }

 private:
  RegisterValue(ValueKind kind, std::shared_ptr<const TokenData> data)
      : kind_(kind), data_(std::move(data)) {}

  ValueKind kind_ = ValueKind::kInitial;
  std::shared_ptr<const TokenData> data_;
};

// A versioned value, as replicas store and exchange it. Version 0 is the initial value.
struct VersionedValue {
  std::uint64_t version = 0;
  RegisterValue value;
  friend bool operator==(const VersionedValue&, const VersionedValue&) = default;
};

// The final argmin of written data, given the argmin over [mid, high) ("upper").
std::optional<HashPoint> CombineFinal(const TokenData& data, const std::optional<HashPoint>& upper);

// Both argmins computed directly (for tools and tests; the protocol splits the work).
// REQUIRES: ValidateDomain(domain).ok()
TokenData ComputeTokenData(const Domain& domain);
HashPoint ComputeFinal(const TokenData& data);

}  // namespace token
