// Token semantics: the hash H(name, x) and the chunked, cancellable argmin over a range.
//
// H(name, x) = the first 8 bytes, read big-endian, of SHA-256 over the UTF-8 bytes of
// name + " " + decimal(x). The argmin of H over a half-open range [from, to) is the point
// with the smallest hash; ties go to the smaller x. A token's `partial` is the argmin over
// [low, mid) and its `final` the argmin over [low, high) (core/token.h).
//
// Speed: the constant prefix `name + " "` is hashed once per TokenHasher, the decimal is
// kept as an in-place counter (no allocation, no formatting per point) and each point
// costs one copy of the prefix context plus one SHA-256 finalisation. ArgminTask does the
// work in chunks so that a driver can bound each slice of work, run it off the protocol
// thread, and cancel it by dropping the task.
//
// Thread-safety: TokenHasher is immutable after construction and may be shared. An
// ArgminTask is a plain value owned by one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <openssl/sha.h>

namespace token {

// One evaluated point of H.
struct HashPoint {
  std::uint64_t x = 0;
  std::uint64_t hash = 0;
  friend bool operator==(const HashPoint&, const HashPoint&) = default;
};

// True when `a` wins the argmin against `b`: smaller hash, ties to the smaller x.
constexpr bool Beats(const HashPoint& a, const HashPoint& b) {
  return a.hash < b.hash || (a.hash == b.hash && a.x < b.x);
}

// The better of two optional points (an absent point always loses).
std::optional<HashPoint> BetterOf(const std::optional<HashPoint>& a,
                                  const std::optional<HashPoint>& b);

// H(name, ·) for one fixed name.
class TokenHasher {
 public:
  explicit TokenHasher(std::string_view name);

  // H(name, x) for any x, including UINT64_MAX.
  std::uint64_t Hash(std::uint64_t x) const;

  // H(name, x) where `decimal` already holds decimal(x).
  std::uint64_t HashDecimal(const char* decimal, std::size_t length) const;

 private:
  SHA256_CTX prefix_;  // state after absorbing name + " "
};

// H(name, x) without keeping a hasher around (hashes the prefix every call).
std::uint64_t TokenHash(std::string_view name, std::uint64_t x);

// The argmin of H(name, ·) over [from, to), computed in bounded slices.
//
// REQUIRES: from <= to. An empty range (from == to) is done at once with no best point.
class ArgminTask {
 public:
  ArgminTask(std::string_view name, std::uint64_t from, std::uint64_t to);

  // Evaluates at most `max_points` more points. Returns true once the range is exhausted.
  bool Step(std::uint64_t max_points);

  // Runs to the end. Returns the argmin (nullopt for an empty range).
  std::optional<HashPoint> RunToEnd();

  bool done() const { return next_ == to_; }
  std::uint64_t remaining() const { return to_ - next_; }
  std::uint64_t evaluated() const { return next_ - from_; }
  // The best point among those evaluated so far; the argmin once done().
  const std::optional<HashPoint>& best() const { return best_; }

 private:
  // Decimal digits of next_, right-aligned in digits_[kDigits - length_, kDigits).
  static constexpr int kDigits = 20;
  void SetDecimal(std::uint64_t x);
  void IncrementDecimal();

  TokenHasher hasher_;
  std::uint64_t from_;
  std::uint64_t next_;
  std::uint64_t to_;
  std::optional<HashPoint> best_;
  char digits_[kDigits] = {};
  int length_ = 0;
};

// The argmin of H(name, ·) over [from, to) in one call. REQUIRES: from <= to.
std::optional<HashPoint> Argmin(std::string_view name, std::uint64_t from, std::uint64_t to);

}  // namespace token
